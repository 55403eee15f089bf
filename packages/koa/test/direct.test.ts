import { Readable } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import { fromNodeListener } from '@ngi/node';
import type { Middleware } from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { fromKoa, toKoa } from '../src/index.ts';
import { uploadAfterAnswer } from '../../../test/fixtures/upload-after-answer.ts';
import { closeAll, errorsOf, fetchRaw, listen, quietKoa } from './_helpers.ts';

afterEach(closeAll);

describe('toKoa with direct: the listener answers on Koa\'s own res', () => {
  it('a body set upstream is not sent, so neither are the Content-Length and Content-Type Koa set for it; passed on, it is', async () => {
    // A default body, set before the rest of the chain may replace it (an empty 200 here).
    const upstream: Middleware = async (ctx, next) => {
      ctx.body = '';
      await next();
    };
    // A listener that streams: it sets no Content-Length, and no Content-Type either.
    const streaming = fromNodeListener((_req, res) => {
      res.write('hello ');
      setImmediate(() => res.end('world'));
    });
    // Koa natively: a later middleware's stream body replaces the default and is framed by its own end.
    const native = await listen(quietKoa().use(upstream).use((ctx) => void (ctx.body = Readable.from(['hello ', 'world']))));
    const direct = await listen(quietKoa().use(upstream).use(toKoa(streaming, { direct: true })));
    const converted = await listen(quietKoa().use(upstream).use(toKoa(streaming)));
    const view = async (url: string, method = 'GET') => {
      const res = await fetchRaw(url, '/', { method });
      return { body: res.text(), length: res.header('content-length'), framing: res.header('transfer-encoding') };
    };
    const expected = { body: 'hello world', length: undefined, framing: 'chunked' };
    expect(await view(native.url)).toEqual(expected);
    expect(await view(direct.url)).toEqual(expected);
    // Converted, the callable's body ends in the turn it started, so Koa measures it whole (same bytes).
    expect(await view(converted.url)).toEqual({ body: 'hello world', length: '11', framing: undefined });
    // §10.3: a HEAD answer carries no length the listener did not give.
    expect((await view(direct.url, 'HEAD')).length).toBeUndefined();
    // Content-Type describes the listener's body, as under the conversion: none given, none sent.
    expect((await fetchRaw(direct.url, '/')).header('content-type')).toBeUndefined();

    // A request the listener passes on (Koa's own 404 with cascade) leaves the default body to Koa, whole.
    const passing = await listen(
      quietKoa()
        .use(async (ctx, next) => {
          ctx.body = 'a default body';
          await next();
        })
        .use(toKoa(fromKoa(quietKoa(), { cascade: true }), { direct: true })),
    );
    const passed = await fetchRaw(passing.url, '/');
    expect([passed.status, passed.text(), passed.header('content-length'), passed.header('content-type')]).toEqual([200, 'a default body', '14', 'text/plain; charset=utf-8']);
  });

  it('a request passed on keeps the Content-Type set upstream, which the Koa app\'s own 404 had set to text/plain', async () => {
    const host = (middle: Middleware) =>
      quietKoa()
        .use(async (ctx, next) => {
          ctx.type = 'html'; // what the rest of the chain answers with
          await next();
        })
        .use(middle)
        .use((ctx) => void (ctx.body = '<p>host page</p>'));
    const declining = () => fromKoa(quietKoa(), { cascade: true });
    // Natively, a middleware with nothing to say only calls next().
    const servers = [host((_ctx, next) => next()), host(toKoa(declining())), host(toKoa(declining(), { direct: true }))];
    for (const server of servers) {
      const res = await fetchRaw((await listen(server)).url, '/');
      expect([res.status, res.header('content-type'), res.header('content-length'), res.text()]).toEqual([200, 'text/html; charset=utf-8', '16', '<p>host page</p>']);
    }
  });

  it('§11.1 a falsy value the listener throws or rejects with is thrown into Koa as an Error, not a request passed on', async () => {
    const failing = fromNodeListener((req) => {
      if (req.url === '/sync') throw null;
      return Promise.reject(undefined);
    });
    const host = quietKoa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          ctx.status = 500;
          ctx.body = `caught ${String((error as Error | null)?.message)}`;
        }
      })
      .use(toKoa(failing, { direct: true }))
      .use((ctx) => void (ctx.body = 'passed on'));
    const server = await listen(host);
    for (const [path, what] of [['/sync', 'null'], ['/async', 'undefined']]) {
      const res = await fetchRaw(server.url, path!);
      expect([res.status, res.text()]).toEqual([500, `caught the listener threw ${what!}`]);
    }
  });
});

/** Koa's own request objects, as the middleware before the callable saw them. */
const koaRequests = new WeakSet<object>();
const remember: Middleware = (ctx, next) => {
  koaRequests.add(ctx.req);
  return next();
};

/**
 * Whether the listener ran on Koa's own req (`direct`) and the body it read, read as Express's
 * body parsers read one (raw-body: 'data' and 'end' listeners, never `read()`).
 */
const reporting = fromNodeListener((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => void parts.push(part));
  req.on('end', () => res.end(JSON.stringify({ direct: koaRequests.has(req), body: Buffer.concat(parts).toString() })));
});

const json = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/json' } });

describe('toKoa with direct: what the listener leaves of the body', () => {
  it('§12.3 is drained up to drainLimit, past which the connection closes, where Node would read it all', async () => {
    const refuses = fromNodeListener((_req, res) => void res.writeHead(401, { 'content-type': 'text/plain' }).end('no'));
    const server = await listen(quietKoa().use(toKoa(refuses, { direct: true, drainLimit: 10_000 })));
    expect(await uploadAfterAnswer(server.url)).toBe('HTTP/1.1 401 Unauthorized, closed');
  });
});

describe('toKoa with direct behind a body parser', () => {
  it('runs on Koa\'s own req whenever nothing upstream read the body, whatever a parser set in ctx.request.body', async () => {
    const plain = await listen(quietKoa().use(remember).use(toKoa(reporting, { direct: true })));
    // @koa/bodyparser parses POST, PUT and PATCH of its types; for another type it sets
    // ctx.request.body to {} without reading the stream.
    const parsing = await listen(quietKoa().use(remember).use(bodyParser()).use(toKoa(reporting, { direct: true })));
    // koa-bodyparser 4 tries every request, and sets {} for one without a body: a GET too.
    const everyMethod = bodyParser({ parsedMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] });
    const eager = await listen(quietKoa().use(remember).use(everyMethod).use(toKoa(reporting, { direct: true })));
    const text = { method: 'POST', body: 'plain text', headers: { 'content-type': 'text/plain' } };
    const cases = [
      [plain.url, { method: 'POST', body: 'no parser' }],
      [parsing.url, {}],
      [parsing.url, text],
      [parsing.url, { method: 'POST', body: 'bytes', headers: { 'content-type': 'application/octet-stream' } }],
      // Not a method it parses: the body is left to the listener.
      [parsing.url, { method: 'DELETE', body: '{"a":1}', headers: { 'content-type': 'application/json', 'content-length': '7' } }],
      [eager.url, {}],
    ] as const;
    const seen = [];
    for (const [url, init] of cases) seen.push((await fetchRaw(url, '/', init)).json());
    expect(seen).toEqual([
      { direct: true, body: 'no parser' },
      { direct: true, body: '' },
      { direct: true, body: 'plain text' },
      { direct: true, body: 'bytes' },
      { direct: true, body: '{"a":1}' },
      { direct: true, body: '' },
    ]);
  });

  it('falls back to the conversion once a parser read the body: what it kept is handed over whole, or reading fails clearly', async () => {
    const app = quietKoa().use(remember).use(bodyParser()).use(toKoa(reporting, { direct: true }));
    const server = await listen(app);
    const text = JSON.stringify({ name: 'ünïcode', n: 1 });
    const form = { method: 'POST', body: 'a=1&b=%C3%BC', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    expect((await fetchRaw(server.url, '/', json(text))).json()).toEqual({ direct: false, body: text });
    expect((await fetchRaw(server.url, '/', form)).json()).toEqual({ direct: false, body: 'a=1&b=%C3%BC' });

    // A parser that read the body, failed, and went on (onError) kept nothing to hand over.
    const lenient = quietKoa().use(bodyParser({ onError: () => {} })).use(toKoa(reporting, { direct: true }));
    const broken = await fetchRaw((await listen(lenient)).url, '/', json('{not json'));
    expect(broken.status).toBe(500);
    expect(errorsOf(lenient).map((error) => error.message)).toEqual([expect.stringContaining('already read by an earlier Koa middleware')]);
  });

  it('a body a parser refused unread (over its limit) and left paused reaches a listener reading it with \'data\' events', async () => {
    // raw-body leaves the stream paused when the declared length is over the limit, so a
    // 'data' listener added later on Koa's own req would wait forever.
    const lenient = bodyParser({ jsonLimit: 10, onError: () => {} });
    const server = await listen(quietKoa().use(remember).use(lenient).use(toKoa(reporting, { direct: true })));
    const body = JSON.stringify({ longer: 'than ten bytes' });
    expect((await fetchRaw(server.url, '/', json(body))).json()).toEqual({ direct: false, body });
  });
});
