import { Agent } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readBody, type Application, type Chunk } from '@ngi/core';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { toExpress } from '../src/index.ts';
import { deferred, fetchRaw, listen, open, sleep, waitFor } from './_helpers.ts';
import { signalInClose } from '../../../test/fixtures/left-early.ts';

/** Declines every request, as a mount table with no matching entry does (§14.1). */
function decliner(log: string[], readsBody = false): Application {
  return async (environ, startResponse) => {
    if (readsBody) await readBody(environ);
    startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass'], ['set-cookie', 'declined=1']]);
    return Object.assign(['not mine'], { close: () => void log.push('closed') });
  };
}

describe('toExpress: fall-through (§14.1)', () => {
  it('§14.1 a declined response written to without awaiting: the write resolves, the later route answers, the process lives on', async () => {
    const rejections: unknown[] = [];
    const record = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', record);
    try {
      const app = express().use(
        toExpress((_environ, startResponse) => {
          const write = startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
          void write('not mine'); // not awaited
          return [];
        }),
      );
      app.get('/later', (_req, res) => void res.send('from express'));
      const { url } = await listen(app);
      const res = await fetchRaw(url, '/later');
      await sleep(20); // the turns in which a dropped rejection would be reported
      expect([res.status, res.text(), rejections]).toEqual([200, 'from express', []]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('§14.1 a 404 with x-cascade: pass calls next(): the later route answers, after the declined body was closed', async () => {
    const log: string[] = [];
    const app = express().use(toExpress(decliner(log)));
    app.get('/later', (_req, res) => void (log.push('later route'), res.send('from express')));
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/later');
    expect([res.status, res.text(), res.header('x-cascade'), res.header('set-cookie')]).toEqual([200, 'from express', undefined, undefined]);
    expect(log).toEqual(['closed', 'later route']);
  });

  it('§14.1 a declined body is stopped and closed at its first chunk, before the later route answers', async () => {
    const log: string[] = [];
    let produced = 0;
    const long: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      // Bounded, so a regression fails here instead of running for ever.
      const body = (function* () {
        while (produced < 10_000) yield `not mine ${produced++}`;
      })();
      return Object.assign(body, { close: () => void log.push('closed') });
    };
    const app = express().use(toExpress(long));
    app.get('/later', (_req, res) => void (log.push('later route'), res.send('from express')));
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/later');
    expect([res.status, res.text()]).toEqual([200, 'from express']);
    expect([produced, log]).toEqual([1, ['closed', 'later route']]);
  });

  it('§14.1 the next handler still gets the unread request body', async () => {
    const app = express().use(toExpress(decliner([]))).post('/form', express.text(), (req, res) => void res.send(`got ${req.body}`));
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/form', { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(res.text()).toBe('got payload');
  });

  it('§14.1 no fall-through once the callable read the body: its 404 is sent', async () => {
    const app = express().use(toExpress(decliner([], true))).post('/form', (_req, res) => void res.send('never'));
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/form', { method: 'POST', body: 'payload' });
    expect([res.status, res.text(), res.header('x-cascade')]).toEqual([404, 'not mine', 'pass']);
  });

  it('§14.1 fallthrough: false sends the 404 as it is, and a plain 404 never falls through', async () => {
    const plain: Application = (_e, startResponse) => (startResponse('404 Not Found', [['content-type', 'text/plain']]), ['plain']);
    const app = express()
      .use('/off', toExpress(decliner([]), { fallthrough: false }))
      .use('/plain', toExpress(plain))
      .use((_req, res) => void res.send('fell through'));
    const { url } = await listen(app);
    expect((await fetchRaw(url, '/off/x')).text()).toBe('not mine');
    expect((await fetchRaw(url, '/plain/x')).text()).toBe('plain');
  });
});

describe('toExpress: streaming, backpressure, abort and close()', () => {
  it('§4.6 a callable whose error an error handler answers with a slow page is told when the client leaves it', async () => {
    let aborted = false;
    const failing: Application = (environ) => {
      environ['ngi.signal'].addEventListener('abort', () => (aborted = true));
      throw new Error('fails before its head');
    };
    const app = express().use(toExpress(failing));
    app.use(((_error, _req, res, _next) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.write('the error page, slowly');
    }) as express.ErrorRequestHandler);
    const { url } = await listen(app as never);
    const res = await open(url, '/');
    await new Promise((resolve) => res.once('data', resolve));
    res.destroy();
    expect(await waitFor(() => aborted, (value) => value)).toBe(true);
  });

  // Behind compression(), whose package this one cannot depend on: test/ecosystem/express-host.test.ts.
  it('§9.3 streams: the first chunk arrives while the body is still running', async () => {
    const gate = deferred();
    const streaming: Application = (_e, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'first;';
        await gate.promise;
        yield 'second';
      })();
    };
    const { url } = await listen(express().use('/s', toExpress(streaming)));
    const res = await open(url, '/s');
    const reader = res[Symbol.asyncIterator]();
    expect(String((await reader.next()).value)).toBe('first;');
    gate.resolve();
    expect(String((await reader.next()).value)).toBe('second');
  });

  it('§8.3 write("") sends an event stream head, with headers from earlier middleware, before any event', async () => {
    const gate = deferred();
    const events: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/event-stream'], ['cache-control', 'no-store']]);
      await write('');
      return (async function* () {
        await gate.promise;
        yield 'data: one\n\n';
      })();
    };
    const app = express().use((_req, res, next) => (res.setHeader('access-control-allow-origin', '*'), next()));
    const { url } = await listen(app.use(toExpress(events)));
    const res = await open(url, '/');
    expect([res.headers['content-type'], res.headers['access-control-allow-origin']]).toEqual(['text/event-stream', '*']);
    gate.resolve();
    let body = '';
    for await (const chunk of res) body += String(chunk);
    expect(body).toBe('data: one\n\n');
  });

  it('§7.1 §9.3 backpressure: the body is pulled only as fast as the client reads', async () => {
    let produced = 0;
    const chunk = new Uint8Array(64 * 1024);
    const endless: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      return (async function* (): AsyncGenerator<Chunk> {
        while (!environ['ngi.signal'].aborted && produced < 2000) {
          produced++;
          yield chunk;
        }
      })();
    };
    const { url } = await listen(express().use(toExpress(endless)));
    const res = await open(url, '/');
    res.pause();
    await sleep(200);
    const whilePaused = produced;
    // 2000 chunks are 125 MiB: without backpressure the generator would have run to its end.
    expect(whilePaused).toBeLessThan(400);
    let received = 0;
    for await (const part of res) received += (part as Buffer).length;
    expect([produced, received]).toEqual([2000, 2000 * chunk.length]);
  });

  it('§12.1 §9.4 a client abort aborts ngi.signal and calls close() once', async () => {
    const record = { aborted: false, closed: 0 };
    const forever: Application = (environ, startResponse) => {
      environ['ngi.signal'].addEventListener('abort', () => (record.aborted = true));
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (async function* () {
        for (;;) {
          yield 'tick\n';
          await sleep(5);
        }
      })();
      return Object.assign(body, { close: () => void record.closed++ });
    };
    const { url } = await listen(express().use(toExpress(forever)));
    const res = await open(url, '/');
    await res[Symbol.asyncIterator]().next();
    res.destroy();
    await waitFor(() => record.closed, (closed) => closed > 0);
    await sleep(30);
    expect(record).toEqual({ aborted: true, closed: 1 });
  });

  it('§12.1 a client that left before the callable answered aborts ngi.signal, though a middleware ended the response on its close first', async () => {
    // A middleware that ends the response once it closes, before the server's own listener runs.
    const endsOnClose: express.RequestHandler = (_req, res, next) => (res.on('close', () => res.end()), next());
    const start = (app: Application) => listen(express().use(endsOnClose).use(toExpress(app)));
    expect(await signalInClose(start, '/', true)).toBe(true);
  });

  it('§12.2 §9.4 a normal response calls close() once and leaves ngi.signal quiet', async () => {
    const record = { aborted: false, closed: 0 };
    const app: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return Object.assign(
        (async function* () {
          yield 'a';
          yield 'b';
          environ['ngi.signal'].addEventListener('abort', () => (record.aborted = true));
        })(),
        { close: () => void record.closed++ },
      );
    };
    const { url } = await listen(express().use(toExpress(app)));
    expect((await fetchRaw(url, '/')).text()).toBe('ab');
    await sleep(20);
    expect(record).toEqual({ aborted: false, closed: 1 });
  });

  it('§10.3 HEAD keeps Content-Length and sends no body; 204 sends none either', async () => {
    const sized: Application = (environ, startResponse) => {
      const code = environ.PATH_INFO === '/204' ? '204 No Content' : '200 OK';
      startResponse(code, code === '200 OK' ? [['content-type', 'text/plain'], ['content-length', '5']] : []);
      return code === '200 OK' ? ['hello'] : [];
    };
    const { url } = await listen(express().use(toExpress(sized)));
    const head = await fetchRaw(url, '/', { method: 'HEAD' });
    expect([head.status, head.header('content-length'), head.body.length]).toEqual([200, '5', 0]);
    const empty = await fetchRaw(url, '/204');
    expect([empty.status, empty.body.length]).toEqual([204, 0]);
  });

  it('§12.3 a request body the callable left unread does not stall the keep-alive connection', async () => {
    const halfReader: Application = async (environ, startResponse) => {
      const iterator = environ['ngi.input'][Symbol.asyncIterator]();
      await iterator.next();
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read a little'];
    };
    const { url } = await listen(express().use(toExpress(halfReader)));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchRaw(url, '/', { method: 'POST', body: randomBytes(200_000), agent });
      const second = await fetchRaw(url, '/', { method: 'POST', body: 'x', agent });
      expect([first.status, second.status]).toEqual([200, 200]);
    } finally {
      agent.destroy();
    }
  });

  it('§12.3 a callable that read some of the body and then failed: Express answers, and the connection serves the next request', async () => {
    const failing: Application = async (environ) => {
      await environ['ngi.input'][Symbol.asyncIterator]().next(); // one chunk, the iteration left open
      throw new Error('bad upload');
    };
    const quiet: express.ErrorRequestHandler = (error: Error, _req, res, _next) => void res.status(500).send(`handled: ${error.message}`);
    const within = <T>(promise: Promise<T>) => Promise.race([promise, sleep(5000).then(() => 'no answer within 5 s' as const)]);
    for (const server of [express().use(toExpress(failing)).use(quiet), express().use(toExpress(failing, { errors: { write() {}, flush() {} } }))]) {
      const { url } = await listen(server);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await within(fetchRaw(url, '/', { method: 'POST', body: randomBytes(512 * 1024), agent }).then((res) => res.status));
        const second = await within(fetchRaw(url, '/', { method: 'POST', body: 'x', agent }).then((res) => res.status));
        expect([first, second]).toEqual([500, 500]);
      } finally {
        agent.destroy();
      }
    }
  });
});
