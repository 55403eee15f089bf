import { Http2ServerResponse, connect } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { readBody, type Application, type Chunk, type ResponseBody } from '@ngi/core';
import compress from '@fastify/compress';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { fastifyNgi } from '../src/index.ts';
import { TWO_TURNS_FRAMING, framing, twoTurns } from '../../../test/fixtures/two-turns.ts';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { WRITE_SIZE, unawaitedWrites } from '../../../test/fixtures/unawaited-writes.ts';
import { REFUSED_HEADS, refusedHead } from '../../../test/fixtures/refused-head.ts';
import { signalInClose } from '../../../test/fixtures/left-early.ts';
import { deferred, listen, logLines, open, send, server, sleep, until } from './_helpers.ts';

async function* slowly(chunks: Chunk[]): AsyncGenerator<Chunk> {
  for (const chunk of chunks) {
    await new Promise((resolve) => setImmediate(resolve));
    yield chunk;
  }
}

describe('fastifyNgi: the response goes through Fastify\'s reply pipeline', () => {
  it('a body that ends in the same turn (an Express res.send) reaches reply.send() whole; one still running a turn later, as a stream', async () => {
    const fastify = server();
    const payloads: string[] = [];
    fastify.addHook('onSend', async (_request, _reply, payload) => {
      payloads.push(typeof (payload as { pipe?: unknown }).pipe === 'function' ? 'stream' : 'whole');
      return payload;
    });
    await fastify.register(fastifyNgi, { app: twoTurns });
    const url = await listen(fastify);
    const quick = await send(url, '/');
    const slow = await send(url, '/slow');
    expect(payloads).toEqual(['whole', 'stream']);
    expect({ quick: framing(quick), slow: framing(slow) }).toEqual(TWO_TURNS_FRAMING);
  });

  it('runs onSend and onResponse hooks on it and keeps headers set on reply and reply.raw earlier (fastify-express#13)', async () => {
    const fastify = server();
    const seen: unknown[] = [];
    fastify.addHook('onRequest', async (_request, reply) => {
      reply.header('x-early', 'kept').header('set-cookie', 'early=1').header('vary', 'Origin').header('x-replaced', 'early');
      reply.raw.setHeader('x-raw', 'raw');
    });
    fastify.addHook('onSend', async (_request, reply, payload) => {
      seen.push(['onSend', reply.statusCode, typeof (payload as { pipe?: unknown }).pipe]);
      reply.header('x-on-send', 'yes');
      return payload;
    });
    fastify.addHook('onResponse', async (_request, reply) => void seen.push(['onResponse', reply.statusCode]));
    const app: Application = (environ, startResponse) => {
      startResponse('201 Created', [
        ['content-type', 'text/plain'],
        ['set-cookie', 'app=1'],
        ['set-cookie', 'app=2'],
        ['vary', 'Accept'],
        ['x-replaced', 'app'],
      ]);
      return environ.PATH_INFO === '/stream' ? slowly(['ma', 'de']) : ['made'];
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    for (const [path, payload] of [['/whole', 'undefined'], ['/stream', 'function']]) {
      seen.length = 0;
      const res = await send(url, path!);
      expect([res.status, res.text(), res.all('set-cookie'), res.header('vary')]).toEqual([201, 'made', ['early=1', 'app=1', 'app=2'], 'Origin, Accept']);
      expect([res.header('x-early'), res.header('x-raw'), res.header('x-replaced'), res.header('x-on-send')]).toEqual(['kept', 'raw', 'app', 'yes']);
      await until(() => seen.length === 2);
      expect(seen).toEqual([['onSend', 201, payload], ['onResponse', 201]]);
    }
  });

  it('is compressed by @fastify/compress, whole and streamed, chunk by chunk (§9.3)', async () => {
    const fastify = server();
    await fastify.register(compress, { global: true });
    const text = 'compress me '.repeat(500);
    const app: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', String(text.length)]]);
      return environ.PATH_INFO === '/stream' ? slowly([text.slice(0, 2000), text.slice(2000)]) : [text];
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    for (const path of ['/whole', '/stream']) {
      const res = await send(url, path, { headers: { 'accept-encoding': 'gzip' } });
      // The app's Content-Length described the uncompressed text: compress drops or replaces it.
      const length = res.header('content-length');
      expect([res.header('content-encoding'), length ?? String(res.body.length), gunzipSync(res.body).toString()]).toEqual(['gzip', String(res.body.length), text]);
    }
    const plain = await send(url, '/stream');
    expect([plain.header('content-encoding'), plain.header('content-length'), plain.text()]).toEqual([undefined, String(text.length), text]);
  });

  it('is logged by Fastify\'s request logging', async () => {
    const log = logLines();
    const fastify = server({ logger: { stream: log.stream } });
    await fastify.register(fastifyNgi, { app: (_environ, startResponse) => (startResponse('202 Accepted', []), ['ok']) });
    const url = await listen(fastify);
    await send(url, '/logged');
    await until(() => log.lines.some((line) => line.msg === 'request completed'));
    const completed = log.lines.find((line) => line.msg === 'request completed')!;
    const incoming = log.lines.find((line) => line.msg === 'incoming request')!;
    expect([incoming.req.url, completed.res.statusCode, completed.reqId]).toEqual(['/logged', 202, incoming.reqId]);
  });

  it('sends the head of an event stream before its first event, behind an async onSend hook (§8.3)', async () => {
    const fastify = server();
    fastify.addHook('onSend', async (_request, _reply, payload) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return payload;
    });
    const release = deferred();
    const app: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/event-stream']]);
      await write('');
      return (async function* () {
        await release.promise;
        yield 'data: one\n\n';
      })();
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const res = await open(url, '/events');
    expect(res.headers['content-type']).toBe('text/event-stream');
    release.resolve();
    let events = '';
    for await (const chunk of res) events += String(chunk);
    expect(events).toBe('data: one\n\n');
  });

  it('resolves every write the application made without waiting for the one before, once the client reads (§7.1)', async () => {
    const fastify = server();
    const { app, resolved } = unawaitedWrites();
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const res = await open(url, '/');
    let length = 0;
    res.on('data', (chunk: Buffer) => void (length += chunk.length));
    expect(await until(resolved)).toBe(true);
    await new Promise((resolve) => res.once('end', resolve));
    expect(length).toBe(3 * WRITE_SIZE);
  });

  it('holds the application back while the client does not read (backpressure, §7.1)', async () => {
    const fastify = server();
    let produced = 0;
    let closed = 0;
    const chunk = new Uint8Array(64 * 1024);
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      const body = (async function* () {
        for (; produced < 2000; produced++) yield chunk;
      })();
      return Object.assign(body, { close: () => void closed++ }) as ResponseBody;
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const res = await open(url, '/big');
    await new Promise((resolve) => setTimeout(resolve, 300));
    // 2000 chunks are 125 MiB; only what the socket buffers hold may have been produced.
    expect(produced).toBeLessThan(400);
    res.destroy();
    expect(await until(() => closed === 1)).toBe(true);
    expect(produced).toBeLessThan(2000);
  });
});

describe('fastifyNgi: fall-through and errors', () => {
  /** A 404 with `x-cascade: pass` whose body counts its `close()` calls. */
  function declining(closes: { count: number }, readFirst = false): Application {
    return async (environ, startResponse) => {
      if (readFirst) for await (const _ of environ['ngi.input']) void _;
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return Object.assign(['not mine'], { close: () => void closes.count++ });
    };
  }

  class Upstream {
    get statusCode(): number {
      return 502;
    }
  }
  it.each([
    ['a parsed JSON object with a __proto__ key', () => JSON.parse('{"__proto__":{"x":1},"message":"m","statusCode":503}') as unknown, 'Error m 503 -'],
    ['a message that is not a string', () => ({ message: 42, statusCode: 502 }), 'Error @ngi/fastify: the application threw { message: 42, statusCode: 502 } 502 -'],
    ['a class whose statusCode is a getter', () => new Upstream(), 'Error @ngi/fastify: the application threw Upstream {} 502 -'],
    ['an object with a getter that throws', () => ({ status: 503, get code(): string { throw new Error('no code'); } }), 'Error @ngi/fastify: the application threw { status: 503, code: [Getter] } - -'],
  ])('§11.1 %s thrown before the head reaches Fastify\'s error handler as an Error with its fields', async (_what, make, seen) => {
    const fastify = server();
    type Failure = Error & { statusCode?: number; code?: string };
    fastify.setErrorHandler((error: Failure, _request, reply) => {
      const fields = `${Object.getPrototypeOf(error) === Error.prototype ? 'Error' : 'not an Error'} ${error.message} ${error.statusCode ?? '-'} ${error.code ?? '-'}`;
      void reply.code(500).send(fields);
    });
    await fastify.register(fastifyNgi, { app: () => { throw make(); }, errors: { write() {}, flush() {} } });
    expect((await send(await listen(fastify), '/')).text()).toBe(seen);
  });

  it('hands a 404 with x-cascade: pass to Fastify\'s not-found handler, after closing the body (§14.1)', async () => {
    const fastify = server();
    const closes = { count: 0 };
    fastify.setNotFoundHandler((request, reply) => {
      void reply.code(404).send({ notFound: request.url, closedBefore: closes.count });
    });
    await fastify.register(fastifyNgi, { app: declining(closes), prefix: '/legacy' });
    const url = await listen(fastify);
    const res = await send(url, '/legacy/missing', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'unread' });
    expect([res.status, res.json(), res.header('x-cascade')]).toEqual([404, { notFound: '/legacy/missing', closedBefore: 1 }, undefined]);
  });

  it.each(['async', 'sync'])('stops a declined %s body at its first chunk and closes it, an endless one too, before the not-found handler answers (§14.1)', async (kind) => {
    const fastify = server();
    let produced = 0;
    let closed = false;
    function* chunks(): Generator<string> {
      try {
        for (;;) {
          produced++;
          yield 'not mine ';
        }
      } finally {
        closed = true;
      }
    }
    const endless: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return kind === 'sync' ? chunks() : (async function* () {
        yield* chunks();
      })();
    };
    fastify.setNotFoundHandler((_request, reply) => void reply.code(404).send(`fastify ${produced} ${closed}`));
    await fastify.register(fastifyNgi, { app: endless, prefix: '/legacy' });
    const res = await send(await listen(fastify), '/legacy/x');
    expect([res.status, res.text()]).toEqual([404, 'fastify 1 true']);
  });

  it('sends the application\'s own 404 without x-cascade, with fallthrough: false, or once it read the body (§14.1)', async () => {
    const fastify = server();
    fastify.setNotFoundHandler((_request, reply) => void reply.code(404).send('fastify'));
    const plain: Application = (_environ, startResponse) => (startResponse('404 Not Found', [['content-type', 'text/plain']]), ['app']);
    await fastify.register(fastifyNgi, { app: plain, prefix: '/plain' });
    await fastify.register(fastifyNgi, { app: declining({ count: 0 }), prefix: '/kept', fallthrough: false });
    await fastify.register(fastifyNgi, { app: declining({ count: 0 }, true), prefix: '/read' });
    const url = await listen(fastify);
    expect((await send(url, '/plain/x')).text()).toBe('app');
    expect((await send(url, '/kept/x')).text()).toBe('not mine');
    const read = await send(url, '/read/x', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'consumed' });
    expect([read.text(), read.header('x-cascade')]).toEqual(['not mine', 'pass']);
  });

  it('sends an error before the head to Fastify\'s error handler: a throw, a rejection, a failing body (§11.1)', async () => {
    const fastify = server();
    fastify.setErrorHandler<Error & { statusCode?: number }>((error, _request, reply) => void reply.code(503).send({ handled: error.message }));
    const app: Application = (environ, startResponse) => {
      const path = environ.PATH_INFO;
      if (path === '/throw') throw new Error('thrown');
      if (path === '/reject') return Promise.reject(new Error('rejected'));
      if (path === '/started') {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return (async function* () {
          yield '';
          throw new Error('failed before the first byte');
        })();
      }
      return (function* () {
        startResponse('200 OK', []);
        throw new Error('failed in the first step');
      })();
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    for (const [path, message] of [['/throw', 'thrown'], ['/reject', 'rejected'], ['/started', 'failed before the first byte'], ['/sync', 'failed in the first step']]) {
      const res = await send(url, path!);
      expect([res.status, res.json()]).toEqual([503, { handled: message }]);
    }
  });

  it('keeps the status of an HttpError through Fastify\'s default error handler (a 413 from readBody, §11.1)', async () => {
    const fastify = server();
    const app: Application = async (environ, startResponse) => {
      await readBody(environ, { limit: 4 });
      startResponse('200 OK', []);
      return [];
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const res = await send(url, '/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'too long' });
    expect([res.status, res.json().message]).toEqual([413, 'Request body exceeds the limit of 4 bytes']);
  });

  it('cuts the response short on an error after the head and logs it to the request\'s logger, or to options.errors (§11.2, §4.4)', async () => {
    const log = logLines();
    const fastify = server({ logger: { stream: log.stream } });
    const written: string[] = [];
    await fastify.register(fastifyNgi, { app: failsLate, prefix: '/logged' });
    await fastify.register(fastifyNgi, { app: failsLate, prefix: '/custom', errors: { write: (message) => void written.push(message), flush() {} } });
    const url = await listen(fastify);
    await expect(send(url, '/logged')).rejects.toThrow();
    await expect(send(url, '/custom')).rejects.toThrow();
    await until(() => written.length > 0);
    const logged = log.lines.filter((line) => line.level === 50 && /^§11\.2: .*late failure/s.test(line.msg as string));
    expect([logged.length, typeof logged[0]?.reqId, written]).toEqual([1, 'string', [expect.stringMatching(/^§11\.2: .*late failure/s)]]);
  });

  it('a whole body without a Content-Type goes out without one, as from an NGI server, not as octet-stream or text/plain', async () => {
    const fastify = server();
    const untyped: Application = (environ, startResponse) => {
      startResponse('200 OK', []);
      return [environ.PATH_INFO === '/bytes' ? new Uint8Array([104, 105]) : 'héllo'];
    };
    await fastify.register(fastifyNgi, { app: untyped });
    const url = await listen(fastify);
    const text = await send(url, '/text');
    const bytes = await send(url, '/bytes');
    expect([text.status, text.header('content-type'), text.header('content-length'), text.text()]).toEqual([200, undefined, '6', 'héllo']);
    expect([bytes.status, bytes.header('content-type'), bytes.header('content-length'), bytes.text()]).toEqual([200, undefined, '2', 'hi']);
  });

  it('an error page in place of a body held back carries none of the failed head\'s headers or status, and the cookies set before', async () => {
    const fastify = server();
    fastify.addHook('onRequest', async (_request, reply) => void reply.header('set-cookie', 'session=1'));
    // A custom error handler that sets no status of its own.
    fastify.setErrorHandler((_error, _request, reply) => void reply.type('text/plain').send('error page'));
    const app: Application = (_environ, startResponse) => {
      startResponse('201 Created', [
        ['content-encoding', 'gzip'],
        ['cache-control', 'public, max-age=31536000, immutable'],
        ['set-cookie', 'app=1'],
        ['location', '/made'],
      ]);
      return (function* () {
        yield 'partial';
        throw new Error('failed in the same turn');
      })();
    };
    await fastify.register(fastifyNgi, { app, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    const res = await send(url, '/');
    expect([res.status, res.text(), res.header('content-encoding'), res.header('cache-control'), res.header('location'), res.all('set-cookie')]).toEqual([
      200,
      'error page',
      undefined,
      undefined,
      undefined,
      ['session=1'],
    ]);
  });

  it('an error page in place of a body held back carries the headers hooks set before, where the failed head replaced them', async () => {
    const fastify = server();
    fastify.addHook('onRequest', async (_request, reply) => void reply.header('x-frame-options', 'DENY').header('cache-control', 'no-store').header('x-hook', 'kept'));
    const app: Application = (environ, startResponse) => {
      const headers: [string, string][] = [['content-type', 'text/plain'], ['x-frame-options', 'SAMEORIGIN'], ['cache-control', 'public, max-age=60']];
      if (environ.PATH_INFO === '/short') {
        startResponse('200 OK', [...headers, ['content-length', '10']]);
        return ['short'];
      }
      startResponse('200 OK', headers);
      return (function* () {
        yield 'partial';
        throw new Error('failed in the same turn');
      })();
    };
    await fastify.register(fastifyNgi, { app, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    for (const path of ['/short', '/throws']) {
      const res = await send(url, path);
      expect([path, res.status, res.header('x-frame-options'), res.header('cache-control'), res.header('x-hook')]).toEqual([path, 500, 'DENY', 'no-store', 'kept']);
    }
  });

  it('an error page in place of a body held back has its own reason phrase, not the failed head\'s (§6.1)', async () => {
    const fastify = server();
    const app: Application = (_environ, startResponse) => {
      startResponse('200 Everything Fine', [['content-type', 'text/plain'], ['content-length', '10']]);
      return ['short'];
    };
    await fastify.register(fastifyNgi, { app, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    const res = await send(url, '/');
    expect([res.status, res.statusText]).toEqual([500, 'Internal Server Error']);
  });

  it('answers with Fastify\'s error handler, logged once by Fastify, a short body it still held back whole (§10.1, §11.1)', async () => {
    const log = logLines();
    const fastify = server({ logger: { stream: log.stream } });
    const written: string[] = [];
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '10']]);
      return ['short'];
    };
    await fastify.register(fastifyNgi, { app, errors: { write: (message) => void written.push(message), flush() {} } });
    const url = await listen(fastify);
    const res = await send(url, '/');
    const reported = log.lines.filter((line) => line.level === 50 && JSON.stringify(line).includes('§10.1'));
    // Nothing reached the client, so nothing was dropped: no "§11.2 … connection dropped" line.
    expect([res.status, reported.length, written]).toEqual([500, 1, []]);
  });
  /** 12 bytes of a declared 20, over two turns (§10.1). */
  const shortOfLength: Application = (_environ, startResponse) => {
    startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '20']]);
    return (async function* () {
      yield 'first-';
      await sleep(5);
      yield 'second';
    })();
  };

  it('sends what a body short of its Content-Length has, chunks of earlier turns too, then closes the connection (§10.1)', async () => {
    const fastify = server();
    // An async onSend hook: the stream holds what was written until Fastify pipes it.
    fastify.addHook('onSend', async (request, _reply, payload) => {
      if (request.url === '/late') await sleep(20);
      return payload;
    });
    await fastify.register(fastifyNgi, { app: shortOfLength, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    const raw = async (path: string): Promise<string> => {
      const socket = connectTcp(Number(new URL(url).port), '127.0.0.1');
      // Not ended: a client that half-closes is taken for one that left (as by an NGI server).
      socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
      let received = '';
      for await (const chunk of socket) received += String(chunk);
      return received;
    };
    for (const path of ['/', '/late']) {
      const [head, body] = (await raw(path)).split('\r\n\r\n');
      expect([path, head?.split('\r\n')[0], /\r\ncontent-length: 20\r\n/i.test(head!), body]).toEqual([path, 'HTTP/1.1 200 OK', true, 'first-second']);
    }
  });

  it('drops a body short of its Content-Length even while the client reads nothing: what it holds back never keeps the connection open (§10.1)', async () => {
    const fastify = server();
    // The stream holds the whole body until Fastify pipes it: then the client's buffers fill.
    fastify.addHook('onSend', async (_request, _reply, payload) => (await sleep(20), payload));
    const ended = deferred();
    const app: Application = (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'application/octet-stream'], ['content-length', String(128 * 1024 * 1024)]]);
      // More than the socket buffers hold, written without waiting.
      for (let i = 0; i < 64; i++) write(new Uint8Array(1024 * 1024)).catch(() => {});
      ended.resolve();
      return [];
    };
    await fastify.register(fastifyNgi, { app, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    const socket = connectTcp(Number(new URL(url).port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n'));
    socket.pause();
    try {
      await ended.promise;
      const connections = (): Promise<number> => new Promise((resolve) => fastify.server.getConnections((_error, count) => resolve(count)));
      // Bounded: a connection held open by the unread bytes never reaches 0.
      for (let i = 0; i < 100 && (await connections()) !== 0; i++) await sleep(30);
      expect(await connections()).toBe(0);
    } finally {
      socket.destroy();
    }
  });

  it('under @fastify/compress, still drops a body short of its Content-Length: it never looks complete (§10.1)', async () => {
    const fastify = server();
    await fastify.register(compress, { global: true, threshold: 0 });
    await fastify.register(fastifyNgi, { app: shortOfLength, errors: { write() {}, flush() {} } });
    const url = await listen(fastify);
    await expect(send(url, '/', { headers: { 'accept-encoding': 'gzip' } })).rejects.toThrow();
  });
});

describe('fastifyNgi: a response stream that is gone', () => {
  /** Records the unhandled rejections until `stop()`; one would end a server's process. */
  function unhandledRejections(): { seen: string[]; stop(): void } {
    const seen: string[] = [];
    const record = (reason: unknown): void => void seen.push(String(reason));
    process.on('unhandledRejection', record);
    return { seen, stop: () => void process.off('unhandledRejection', record) };
  }

  it('a callable that answers its whole body after the client left finds ngi.signal aborted in its close() (§12.1)', async () => {
    const start = async (app: Application) => {
      const fastify = server();
      await fastify.register(fastifyNgi, { app, errors: { write() {}, flush() {} } });
      return { url: await listen(fastify) };
    };
    expect(await signalInClose(start)).toBe(true);
  });

  it('leaves no rejection unhandled when the body ends after the client left an event stream (§12.1)', async () => {
    const rejections = unhandledRejections();
    const fastify = server();
    let returned = false;
    const app: Application = async (environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/event-stream']]);
      await write('');
      await until(() => environ['ngi.signal'].aborted);
      returned = true;
      return ['bye'];
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const abort = new AbortController();
    const res = await open(url, '/events', { signal: abort.signal });
    res.on('error', () => {});
    abort.abort();
    expect(await until(() => returned)).toBe(true);
    await sleep(50); // the turns in which a dropped rejection would be reported
    rejections.stop();
    expect(rejections.seen).toEqual([]);
  });

  it('leaves no rejection unhandled when chunks come after Fastify answered a handlerTimeout (§7.1)', async () => {
    const rejections = unhandledRejections();
    const fastify = server({ handlerTimeout: 50 } as FastifyServerOptions);
    const ended = deferred();
    const app: Application = (_environ, startResponse) =>
      (async function* () {
        await sleep(150);
        startResponse('200 OK', [['content-type', 'text/plain']]);
        try {
          // Two chunks in one turn: they go to the stream together.
          yield 'a';
          yield 'b';
          await sleep(20);
          yield 'c';
        } finally {
          ended.resolve();
        }
      })();
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    expect((await send(url, '/slow')).status).toBe(503);
    await ended.promise;
    await sleep(50);
    rejections.stop();
    expect(rejections.seen).toEqual([]);
  });
});

describe('fastifyNgi: a streamed body an onSend hook replaced', () => {
  it('is stopped and closed once the response is over, never left suspended, and nothing is logged as an error (§9.4, §9.5)', async () => {
    const fastify = server();
    fastify.addHook('onSend', async (_request, _reply, payload) => (typeof (payload as { pipe?: unknown }).pipe === 'function' ? 'replaced' : payload));
    let closed = 0;
    let produced = 0;
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      // 100 KiB: more than the stream buffers, so it fills while nothing reads it.
      const body = (async function* () {
        for (; produced < 100; produced++) {
          await new Promise((resolve) => setImmediate(resolve));
          yield 'x'.repeat(1024);
        }
      })();
      return Object.assign(body, { close: () => void closed++ }) as ResponseBody;
    };
    const logged: string[] = [];
    await fastify.register(fastifyNgi, { app, errors: { write: (message) => void logged.push(message), flush() {} } });
    const url = await listen(fastify);
    const res = await send(url, '/replaced');
    expect([res.status, res.text()]).toEqual([200, 'replaced']);
    expect(await until(() => closed === 1)).toBe(true);
    expect(produced).toBeLessThan(100);
    // The response went out whole: the body was only not wanted.
    expect(logged).toEqual([]);
  });
});

describe('fastifyNgi over HTTP/2', () => {
  it('drops the reason phrase, which HTTP/2 has no place for, instead of setting it for Node to warn about (§6.1)', async () => {
    // Node warns once per process when a reason is set on an HTTP/2 response: count the sets instead.
    const descriptor = Object.getOwnPropertyDescriptor(Http2ServerResponse.prototype, 'statusMessage')!;
    const reasons: unknown[] = [];
    Object.defineProperty(Http2ServerResponse.prototype, 'statusMessage', {
      ...descriptor,
      set(value: unknown) {
        reasons.push(value);
        descriptor.set!.call(this, value);
      },
    });
    try {
      const fastify = server({ http2: true } as FastifyServerOptions) as unknown as FastifyInstance;
      await fastify.register(fastifyNgi, { app: (_environ, startResponse) => (startResponse('299 Custom Reason', [['content-type', 'text/plain']]), ['h2']) });
      const url = await listen(fastify);
      const client = connect(url);
      const stream = client.request({ ':path': '/' });
      let status: unknown;
      let text = '';
      stream.on('response', (headers) => (status = headers[':status']));
      for await (const chunk of stream) text += String(chunk);
      client.close();
      expect([status, text, reasons]).toEqual([299, 'h2', []]);
    } finally {
      Object.defineProperty(Http2ServerResponse.prototype, 'statusMessage', descriptor);
    }
  });

  it('resets the stream of a response cut short, which a clean end would make look complete (§11.2)', async () => {
    const fastify = server({ http2: true } as FastifyServerOptions) as unknown as FastifyInstance;
    await fastify.register(fastifyNgi, { app: failsLate, errors: { write() {}, flush() {} } });
    const client = connect(await listen(fastify));
    try {
      const answer = await new Promise<{ body: string; rstCode: number | undefined }>((resolve) => {
        const stream = client.request({ ':path': '/' });
        let body = '';
        stream.on('data', (chunk) => (body += chunk));
        stream.on('error', () => {});
        stream.on('close', () => resolve({ body, rstCode: stream.rstCode }));
      });
      expect(answer).toEqual({ body: 'partial', rstCode: 2 }); // NGHTTP2_INTERNAL_ERROR
    } finally {
      client.close();
    }
  });

  it.each(REFUSED_HEADS)('a head Node refuses (%s) is Fastify\'s 500 without the application\'s headers, and nothing crashes (§11.1)', async (_label, extra, how) => {
    const log = logLines();
    const fastify = server({ http2: true, logger: { stream: log.stream } } as FastifyServerOptions) as unknown as FastifyInstance;
    await fastify.register(fastifyNgi, { app: refusedHead(extra, how) });
    const client = connect(await listen(fastify));
    try {
      const answer = await new Promise<{ status: unknown; headers: Record<string, unknown>; body: string; rstCode: number | undefined }>((resolve) => {
        const stream = client.request({ ':path': '/' });
        let status: unknown;
        let headers: Record<string, unknown> = {};
        let body = '';
        stream.on('response', (head) => ((status = head[':status']), (headers = head)));
        stream.on('data', (chunk) => (body += chunk));
        stream.on('error', () => {});
        stream.on('close', () => resolve({ status, headers, body, rstCode: stream.rstCode }));
      });
      expect([answer.status, answer.rstCode, answer.headers['set-cookie'], answer.headers[extra[0]![0]]]).toEqual([500, 0, undefined, undefined]);
      expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 500 });
      expect(log.lines.some((line) => String(line.err?.message).includes(extra[0]![0]))).toBe(true);
    } finally {
      client.close();
    }
  });
});
