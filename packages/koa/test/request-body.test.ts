import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import { readBody, type Application } from '@ngi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { toKoa } from '../src/index.ts';
import { closeAll, deferred, errorLog, errorsOf, fetchRaw, listen, quietKoa } from './_helpers.ts';

afterEach(closeAll);

/** Answers with the body it read and the CONTENT_LENGTH it was told. */
const echoBody: Application = async (environ, startResponse) => {
  const body = Buffer.from(await readBody(environ));
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [JSON.stringify({ length: environ.CONTENT_LENGTH ?? null, body: body.toString() })];
};

describe('toKoa: request bodies', () => {
  it('§4.3 a body @koa/bodyparser already parsed is handed over from its raw text', async () => {
    const app = quietKoa()
      .use(bodyParser())
      .use(async (ctx, next) => {
        // Middleware before the callable still sees the parsed body.
        ctx.set('x-parsed-n', String((ctx.request.body as { n: number }).n));
        await next();
      })
      .use(toKoa(echoBody));
    const server = await listen(app);
    const json = JSON.stringify({ name: 'ünïcode', n: 1 });
    const res = await fetchRaw(server.url, '/', { method: 'POST', body: json, headers: { 'content-type': 'application/json' } });
    expect(res.json()).toEqual({ length: String(Buffer.byteLength(json)), body: json });
    expect(res.header('x-parsed-n')).toBe('1');
  });

  it('§4.3 a parsed JSON body kept without its raw text is serialized again', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        let text = '';
        for await (const chunk of ctx.req) text += (chunk as Buffer).toString();
        (ctx.request as { body?: unknown }).body = JSON.parse(text); // a parser that keeps no rawBody
        await next();
      })
      .use(toKoa(echoBody));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/', { method: 'POST', body: '{ "a" : [1, 2] }', headers: { 'content-type': 'application/json' } });
    expect(res.json()).toEqual({ length: '11', body: '{"a":[1,2]}' });
  });

  it('§4.3 a body read by a middleware that kept nothing fails the read clearly, never reads as empty', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        for await (const _ of ctx.req) void _; // a parser that keeps no raw body
        await next();
      })
      .use(toKoa(echoBody));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/', { method: 'POST', body: 'lost' });
    expect(res.status).toBe(500);
    expect(errorsOf(app).map((error) => error.message)).toEqual([expect.stringContaining('already read by an earlier Koa middleware')]);
  });

  it('§4.3 the body streams: the callable reads the first chunk before the client sends the rest', async () => {
    const firstSeen = deferred();
    const app = quietKoa().use(toKoa(async (environ, startResponse) => {
      let text = '';
      for await (const chunk of environ['ngi.input']) {
        text += Buffer.from(chunk).toString();
        firstSeen.resolve();
      }
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [text];
    }));
    const server = await listen(app);
    // A server that buffered the whole body before calling the callable would never see the end.
    async function* body() {
      yield Buffer.from('first;');
      await firstSeen.promise;
      yield Buffer.from('second');
    }
    expect((await fetchRaw(server.url, '/', { method: 'POST', body: body() })).text()).toBe('first;second');
  });

  it('§12.3 a body the callable never read is drained up to drainLimit, then the connection is closed', async () => {
    const app = quietKoa().use(toKoa((environ, startResponse) => {
      if (environ.PATH_INFO === '/fail') throw new Error('failed before reading');
      startResponse('401 Unauthorized', [['content-type', 'text/plain']]);
      return ['no'];
    }, { drainLimit: 1000, errors: errorLog() }));
    const server = await listen(app);
    const { port, hostname, host } = new URL(server.url);
    // 100 kB of a declared 500 kB: a drain without a limit waits for the rest for ever.
    const outcome = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(`POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 500000\r\n\r\n`);
          socket.write(randomBytes(100_000));
        });
        let head = '';
        socket.on('data', (chunk: Buffer) => (head ||= chunk.toString('latin1').split('\r\n')[0]!));
        socket.on('close', () => resolve(`${head}, closed`));
        socket.on('error', reject);
        setTimeout(() => resolve(`${head}, still open`), 3000).unref();
      });
    expect(await Promise.all([outcome('/answer'), outcome('/fail')])).toEqual([
      'HTTP/1.1 401 Unauthorized, closed',
      'HTTP/1.1 500 Internal Server Error, closed',
    ]);
  });

  it('§12.3 a body the callable stopped reading is drained, so the kept-alive connection serves the next request', async () => {
    const app = quietKoa().use(toKoa(async (environ, startResponse) => {
      for await (const _ of environ['ngi.input']) break; // one chunk, then stop
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read a little'];
    }));
    const server = await listen(app);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchRaw(server.url, '/', { method: 'POST', body: randomBytes(500_000), agent });
      const second = await fetchRaw(server.url, '/', { agent });
      expect([first.status, second.status, second.text()]).toEqual([200, 200, 'read a little']);
    } finally {
      agent.destroy();
    }
  });
});
