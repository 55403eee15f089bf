import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import { mount, request, stream, type Application } from '@ngi/core';
import { tooLargeBody } from '../../../test/fixtures/too-large.ts';
import { environSymbol } from '@ngi/node';
import mountKoa from 'koa-mount';
import { describe, expect, it } from 'vitest';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { fromKoa, toKoa } from '../src/index.ts';
import { deferred, echo, errorsOf, quietKoa, type Seen } from './_helpers.ts';

// The in-process client runs every exchange through the validator (§2–§13 on both sides).
describe('fromKoa: a Koa app as an NGI application', () => {
  it('§6 answers through Koa: status, reason, repeated headers, body', async () => {
    const koa = quietKoa().use(async (ctx) => {
      ctx.status = 201;
      ctx.message = 'Made It';
      ctx.append('set-cookie', ['a=1', 'b=2']);
      ctx.body = { method: ctx.method, url: ctx.url, query: ctx.query };
    });
    const res = await request(fromKoa(koa), { url: '/items?x=1' });
    expect(res.errors).toEqual([]);
    expect([res.status, res.statusText, res.json()]).toEqual([201, 'Made It', { method: 'GET', url: '/items?x=1', query: { x: '1' } }]);
    expect(res.headers.filter(([name]) => name.toLowerCase() === 'set-cookie').map(([, value]) => value)).toEqual(['a=1', 'b=2']);
  });

  it("§4.3 a body that fails with its client still there (the server's 413) reaches the Koa app's error handling as that error", async () => {
    const koa = quietKoa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          const { status, message } = error as { status: number; message: string };
          ctx.status = status;
          ctx.body = `handled: ${status} ${message}`;
        }
      })
      .use(bodyParser())
      .use((ctx) => void (ctx.body = ctx.request.body));
    const res = await request(fromKoa(koa), { method: 'POST', body: tooLargeBody(16), headers: { 'content-type': 'application/json', 'content-length': '100' } });
    expect([res.status, res.text()]).toEqual([413, 'handled: 413 Request body exceeds the limit of 16 bytes']);
  });

  it('§9.3 a streamed Koa body arrives chunk by chunk', async () => {
    const release = deferred();
    const koa = quietKoa().use(async (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = Readable.from((async function* () {
        yield 'first;';
        await release.promise;
        yield 'second';
      })());
    });
    const res = await stream(fromKoa(koa));
    const reader = res.body[Symbol.asyncIterator]();
    expect(Buffer.from((await reader.next()).value as Uint8Array).toString()).toBe('first;');
    release.resolve();
    expect(Buffer.from((await reader.next()).value as Uint8Array).toString()).toBe('second');
    expect((await reader.next()).done).toBe(true);
  });

  it('§4.3 the request body reaches Koa\'s body parser', async () => {
    const koa = quietKoa().use(bodyParser()).use(async (ctx) => {
      ctx.body = { got: ctx.request.body };
    });
    const res = await request(fromKoa(koa), { method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, body: '{"a":[1,2]}' });
    expect(res.json()).toEqual({ got: { a: [1, 2] } });
  });

  it('§3.2 mounted at a prefix, Koa sees the rest of the path; the prefix is on ctx.req and toKoa inside picks it up', async () => {
    let view: unknown;
    const koa = quietKoa()
      .use(async (ctx, next) => {
        view = { url: ctx.url, originalUrl: ctx.originalUrl, scriptName: (ctx.req as { [environSymbol]?: { SCRIPT_NAME: string } })[environSymbol]?.SCRIPT_NAME };
        await next();
      })
      .use(mountKoa('/inner', toKoa(echo)));
    const app = mount({ '/legacy': fromKoa(koa) });
    const res = await request(app, { url: '/legacy/inner/a%20b?q=1' });
    expect(res.errors).toEqual([]);
    expect(view).toEqual({ url: '/inner/a%20b?q=1', originalUrl: '/inner/a%20b?q=1', scriptName: '/legacy' });
    expect(res.json()).toMatchObject({ scriptName: '/legacy/inner', pathInfo: '/a b', rawPath: '/legacy/inner/a%20b', query: 'q=1' } satisfies Partial<Seen>);
  });

  it('§14.2 a path toKoa inside redirects to its normal form keeps the outer prefix and koa-mount\'s, as received', async () => {
    const koa = quietKoa().use(mountKoa('/inner', toKoa(echo)));
    const res = await request(mount({ '/legacy': fromKoa(koa) }), { url: '/legacy/inner/a%2Fb?q=1' });
    expect([res.status, res.header('location'), res.errors]).toEqual([308, '/legacy/inner/a/b?q=1', []]);
  });

  it('§4.4 §4.5 toKoa inside writes to the outer error stream and keeps its multiprocess flag', async () => {
    const inner: Application = (environ, startResponse) => {
      environ['ngi.errors'].write('from the callable inside Koa\n');
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [String(environ['ngi.multiprocess'])];
    };
    const served = fromKoa(quietKoa().use(toKoa(inner)));
    const res = await request((environ, startResponse) => served({ ...environ, 'ngi.multiprocess': true }, startResponse));
    expect([res.text(), res.errors]).toEqual(['true', ['from the callable inside Koa\n']]);
  });

  it('§11.1 an error in Koa is answered by Koa\'s own error handling', async () => {
    const koa = quietKoa().use(async () => {
      throw new Error('koa failed');
    });
    const res = await request(fromKoa(koa));
    expect([res.status, res.text()]).toEqual([500, 'Internal Server Error']);
    expect(errorsOf(koa).map((error) => error.message)).toEqual(['koa failed']);
  });

  it('§14.1 with cascade: true, Koa\'s unhandled 404 says "not mine" to an NGI dispatcher', async () => {
    const empty = fromKoa(quietKoa(), { cascade: true });
    const res = await request(empty, { url: '/nothing' });
    expect([res.status, res.header('x-cascade'), res.text()]).toEqual([404, 'pass', 'Not Found']);
    expect((await request(empty, { url: '/nothing', method: 'HEAD' })).header('x-cascade')).toBe('pass');
  });
});

describe('bad input gets a clear error', () => {
  it('fromKoa wants a Koa application, toKoa an NGI application', () => {
    expect(() => fromKoa({} as never)).toThrow(/fromKoa: expected a Koa application/);
    // Its listener, given where the app belongs, is named with the function that takes it.
    expect(() => fromKoa(quietKoa().callback() as never)).toThrow('fromKoa: expected a Koa application (an object with callback()); for a Node listener such as app.callback(), fromNodeListener(listener) from @ngi/node');
    const expressLike = Object.assign(() => {}, { handle() {}, set() {}, use() {} });
    expect(() => fromKoa(expressLike as never)).toThrow('fromKoa: expected a Koa application (an object with callback()); for an Express app, fromExpress(app) from @ngi/express');
    expect(() => toKoa('app' as unknown as Application)).toThrow(/toKoa: expected an NGI application/);
    // A Koa app would fail on every request: the mistake is named.
    expect(() => toKoa(quietKoa() as never)).toThrow('toKoa: expected an NGI application (a function), got a Koa app: wrap it, fromKoa(app) from @ngi/koa');
    expect(() => mount({ '/old': quietKoa() as never })).toThrow('got a Koa app: wrap it, fromKoa(app) from @ngi/koa');
    expect(() => toKoa(echo, { drainLimit: -1 })).toThrow(/drainLimit/);
    // console has no write(): every report would be lost without a word (§4.4).
    expect(() => toKoa(echo, { errors: console as never })).toThrow(/toKoa: options\.errors must be an error stream/);
    expect(() => toKoa(echo, { cascades: false } as never)).toThrow('toKoa: unknown option "cascades" (did you mean "cascade"?)');
    expect(() => toKoa(echo, { direct: 'yes' } as never)).toThrow('toKoa: options.direct must be a boolean, got "yes"');
    expect(() => fromKoa(quietKoa(), { casade: true } as never)).toThrow('fromKoa: unknown option "casade" (did you mean "cascade"?)');
  });
});

describe('fromKoa around toKoa: an error after the head', () => {
  it('§11.2 is reported once, by the NGI server that dropped the response, not again by the one outside', async () => {
    const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);
    const res = await stream(through(fromKoa(quietKoa().use(toKoa(failsLate)))));
    await expect((async () => { for await (const _ of res.body) void _; })()).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(res.errors.filter((line) => line.includes('late failure'))).toHaveLength(1);
  });
});
