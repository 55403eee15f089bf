import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { HttpError, readBody, type Application } from '@ngi/core';
import compress from 'koa-compress';
import { afterEach, describe, expect, it } from 'vitest';
import { toKoa } from '../src/index.ts';
import { koaMajor } from '../../../test/fixtures/versions.ts';
import { TWO_TURNS_FRAMING, framing, twoTurns } from '../../../test/fixtures/two-turns.ts';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { closeAll, errorLog, errorsOf, fetchRaw, listen, open, quietKoa, sleep } from './_helpers.ts';

afterEach(closeAll);

const LINE = 'a line of text that compresses well\n';

/** A callable that streams `count` lines, one chunk each. */
const lines = (count: number): Application => (_environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain; charset=utf-8'], ['x-from', 'callable']]);
  return (async function* () {
    for (let i = 0; i < count; i++) yield LINE;
  })();
};

describe('toKoa: the response goes through the Koa pipeline', () => {
  it('koa-compress and an upstream error handler apply to a mounted callable, streamed and failed alike', async () => {
    const handled: string[] = [];
    const app = quietKoa()
      // The usual outermost error handler: it wraps `await next()` and renders its own page.
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          handled.push((error as Error).message);
          ctx.status = 503;
          ctx.set('retry-after', '5');
          ctx.body = { error: 'handled upstream' };
        }
      })
      .use(compress({ threshold: 0 }))
      .use(toKoa((environ, startResponse) => {
        if (environ.PATH_INFO === '/fail') throw new Error('callable failed before its head');
        return lines(200)(environ, startResponse);
      }, { errors: errorLog() }));
    const server = await listen(app);

    const ok = await fetchRaw(server.url, '/', { headers: { 'accept-encoding': 'gzip' } });
    expect([ok.status, ok.header('content-encoding'), ok.header('x-from'), ok.header('content-length')]).toEqual([200, 'gzip', 'callable', undefined]);
    expect(gunzipSync(ok.body).toString()).toBe(LINE.repeat(200));

    // The error passes up through koa-compress (which compresses nothing then) to the handler.
    const failed = await fetchRaw(server.url, '/fail', { headers: { 'accept-encoding': 'gzip' } });
    expect([failed.status, failed.header('retry-after'), failed.json()]).toEqual([503, '5', { error: 'handled upstream' }]);
    expect(handled).toEqual(['callable failed before its head']);
  });

  it('upstream middleware sees status, headers and body after await next(), and can change them', async () => {
    let observed: unknown;
    const app = quietKoa()
      .use(async (ctx, next) => {
        ctx.set('x-request-id', 'r1');
        ctx.cookies.set('session', 's1', { signed: false });
        await next();
        observed = { status: ctx.status, message: ctx.message, type: ctx.type, length: ctx.length, body: ctx.body };
        ctx.set('x-after', String(ctx.status));
        ctx.status = 201;
      })
      .use(toKoa((_environ, startResponse) => {
        startResponse('202 Taken', [['content-type', 'text/plain'], ['content-length', '5'], ['set-cookie', 'app=1'], ['x-multi', 'a'], ['x-multi', 'b']]);
        return ['hello'];
      }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/');
    expect(observed).toEqual({ status: 202, message: 'Taken', type: 'text/plain', length: 5, body: 'hello' });
    expect([res.status, res.text(), res.header('x-after'), res.header('x-request-id')]).toEqual([201, 'hello', '202', 'r1']);
    // §6.3: cookies from upstream and from the callable all arrive, repeated headers unfolded.
    expect(res.all('set-cookie')).toEqual([expect.stringMatching(/^session=s1/), 'app=1']);
    expect(res.all('x-multi').join(', ')).toBe('a, b');
  });

  it('§6.3 Vary set upstream (CORS) is joined by the callable value, not replaced: a cache must not mix origins', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        ctx.vary('Origin');
        await next();
      })
      .use(toKoa((_environ, startResponse) => {
        startResponse('200 OK', [['content-type', 'text/plain'], ['vary', 'Accept-Encoding']]);
        return ['v'];
      }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/');
    expect(res.all('vary')).toEqual(['Origin, Accept-Encoding']);
  });

  it('a body that ends in the same turn (an Express res.send) reaches Koa whole; one still running is a stream', async () => {
    const seen: string[] = [];
    const app = quietKoa()
      .use(async (ctx, next) => {
        await next();
        seen.push(Buffer.isBuffer(ctx.body) || typeof ctx.body === 'string' ? 'whole' : 'stream');
      })
      .use(toKoa(twoTurns));
    const server = await listen(app);
    const quick = await fetchRaw(server.url, '/');
    const slow = await fetchRaw(server.url, '/slow');
    expect(seen).toEqual(['whole', 'stream']);
    expect({ quick: framing(quick), slow: framing(slow) }).toEqual(TWO_TURNS_FRAMING);
  });

  it('one chunk of any size that ends in the same turn (a large Express res.send) reaches Koa whole; two past 64 KiB are a stream', async () => {
    const part = Buffer.alloc(40 * 1024, 'x');
    const seen: string[] = [];
    const app = quietKoa()
      .use(async (ctx, next) => {
        await next();
        seen.push(Buffer.isBuffer(ctx.body) ? `whole ${ctx.body.length}` : 'stream');
      })
      .use(
        toKoa((environ, startResponse) => {
          startResponse('200 OK', [['content-type', 'text/plain']]);
          // A generator: runApp cannot tell its first chunk is its last, as with fromExpress.
          const parts = environ.PATH_INFO === '/one' ? [Buffer.concat([part, part])] : [part, part];
          return (function* () {
            yield* parts;
          })();
        }),
      );
    const server = await listen(app);
    expect(framing(await fetchRaw(server.url, '/one')).slice(1)).toEqual([String(part.length * 2), undefined]);
    expect(framing(await fetchRaw(server.url, '/two')).slice(1)).toEqual([undefined, 'chunked']);
    expect(seen).toEqual([`whole ${part.length * 2}`, 'stream']);
  });

  it('§11.1 an HttpError before the head is answered by Koa with its status and message', async () => {
    const app = quietKoa().use(toKoa(async (environ, startResponse) => {
      const body = await readBody(environ, { limit: 10 });
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [body];
    }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/', { method: 'POST', body: 'x'.repeat(100) });
    expect([res.status, res.text()]).toEqual([413, 'Request body exceeds the limit of 10 bytes']);
    // A client error: exposed, so Koa's default error logger leaves it out.
    expect(errorsOf(app).map((error) => error.expose)).toEqual([true]);
  });

  it('§11.1 a 5xx HttpError is answered with its message too; a status Koa does not know is its 500, as for ctx.throw', async () => {
    const app = quietKoa().use(toKoa((environ) => {
      throw new HttpError(Number(environ.PATH_INFO.slice(1)), 'down for maintenance');
    }));
    const server = await listen(app);
    const answers = [];
    for (const status of [503, 509, 499]) {
      const res = await fetchRaw(server.url, `/${status}`);
      answers.push([res.status, res.text()]);
    }
    expect(answers).toEqual([[503, 'down for maintenance'], [509, 'down for maintenance'], [500, 'down for maintenance']]);
  });

  it('§11.1 a thrown null or undefined is thrown into Koa as an Error naming it, with the value as its cause', async () => {
    const caught: unknown[] = [];
    const app = quietKoa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          caught.push([(error as Error).message, (error as Error).cause]);
          ctx.status = 500;
        }
      })
      .use(toKoa((environ) => {
        throw environ.PATH_INFO === '/null' ? null : undefined;
      }));
    const server = await listen(app);
    for (const path of ['/null', '/undefined']) expect((await fetchRaw(server.url, path)).status).toBe(500);
    expect(caught).toEqual([['toKoa: the application threw null', null], ['toKoa: the application threw undefined', undefined]]);
  });

  it('§11.1 an error in the body before the head is thrown into Koa; the body is closed once', async () => {
    let closed = 0;
    const app = quietKoa().use(toKoa((_environ, startResponse) => {
      const body = (async function* () {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        yield '';
        throw new HttpError(418, 'short and stout');
      })();
      return Object.assign(body, { close: () => void closed++ });
    }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.text(), closed]).toEqual([418, 'short and stout', 1]);
  });

  it('§9.1 §11.1 a contract violation is thrown into Koa like any error before the head; a sync generator body streams', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          ctx.status = 500;
          ctx.body = `caught ${(error as Error).message}`;
        }
      })
      .use(toKoa((environ, startResponse) => {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        if (environ.PATH_INFO === '/string') return 'not a body' as unknown as string[];
        return (function* () {
          yield 'sync;';
          yield 'generator';
        })();
      }));
    const server = await listen(app);
    const bad = await fetchRaw(server.url, '/string');
    expect([bad.status, bad.text()]).toEqual([500, expect.stringContaining('caught §9.1')]);
    expect((await fetchRaw(server.url, '/gen')).text()).toBe('sync;generator');
  });

  it('§11.2 an error after the head cuts the response short, and Koa reports it', async () => {
    const errors = errorLog();
    const app = quietKoa().use(toKoa((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'partial';
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error('late failure');
      })();
    }, { errors }));
    const server = await listen(app);
    await expect(fetchRaw(server.url, '/')).rejects.toThrow();
    expect(errors.lines.join('')).toMatch(/§11\.2.*late failure/s);
  });

  it('§11.2 over HTTP/1.0, whose body only the close ends, an error after the head resets the connection instead of closing it', async () => {
    const app = quietKoa().use(toKoa(failsLate, { errors: errorLog() }));
    const server = await listen(app);
    const ending = await new Promise<string>((resolve) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1', () => socket.write('GET / HTTP/1.0\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(`${error.code} after ${data.slice(data.indexOf('\r\n\r\n') + 4)}`));
      socket.on('end', () => resolve(`a clean close after ${data.slice(data.indexOf('\r\n\r\n') + 4)}`));
    });
    expect(ending).toBe('ECONNRESET after partial');
  });

  it('§11.2 a body a middleware put in place of a callable that then fails is sent whole', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        await next();
        const replacement = new PassThrough();
        ctx.body = replacement;
        replacement.write('replacement, ');
        setTimeout(() => replacement.end('whole'), 100);
      })
      .use(toKoa((_environ, startResponse) => {
        void startResponse('200 OK', [['content-type', 'text/plain']])(''); // the head, at once
        return (async function* () {
          await sleep(20);
          throw new Error('late failure');
        })();
      }, { errors: errorLog() }));
    const server = await listen(app);
    expect((await fetchRaw(server.url, '/')).text()).toBe('replacement, whole');
  });

  it('§11.2 §10.1 under koa-compress, an error or a short body after the head still drops the connection', async () => {
    const app = quietKoa().use(compress({ threshold: 0 })).use(toKoa((environ, startResponse) => {
      if (environ.PATH_INFO === '/short') {
        startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '100']]);
        return (async function* () {
          yield 'short';
          await sleep(10);
        })();
      }
      startResponse('200 OK', [['content-type', 'text/plain']]);
      if (environ.PATH_INFO === '/sync') {
        return (function* () {
          yield 'partial';
          throw new Error('failure in the same turn');
        })();
      }
      return (async function* () {
        yield 'partial';
        await sleep(10);
        throw new Error('late failure');
      })();
    }, { errors: errorLog() }));
    const server = await listen(app);
    // koa-compress pipes the body into gzip with .pipe(), which passes no error on: a stall shows as 'stalled'.
    const outcome = (path: string): Promise<string> =>
      Promise.race([
        fetchRaw(server.url, path, { headers: { 'accept-encoding': 'gzip' } }).then((res) => (res.status === 200 ? 'complete' : `answered ${res.status}`), () => 'dropped'),
        sleep(3000).then(() => 'stalled'),
      ]);
    const outcomes = await Promise.all(['/async', '/sync', '/short'].map(outcome));
    // Koa 2 hears of the body's error itself (it listens on the stream it was given) and, while
    // gzip has sent nothing yet, answers it with a 500 in place of the response.
    if (koaMajor >= 3) expect(outcomes).toEqual(['dropped', 'dropped', 'dropped']);
    else {
      // A failure in the same turn always comes first; a later one, once gzip has sent a head or not.
      expect(outcomes.slice(1)).toEqual(['answered 500', 'dropped']);
      expect(['dropped', 'answered 500']).toContain(outcomes[0]);
    }
  });

  it('§10.1 a body that ends short in the same turn sends what it has, then the connection closes', async () => {
    const app = quietKoa().use(toKoa((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '100']]);
      return ['short'];
    }, { errors: errorLog() }));
    const server = await listen(app);
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    socket.end('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    const closed = new Promise<string>((resolve) => socket.once('close', () => resolve('closed')));
    expect(await Promise.race([closed, sleep(3000).then(() => 'still open')])).toBe('closed');
    const [head, body] = received.split('\r\n\r\n');
    expect([head?.split('\r\n')[0], head?.toLowerCase().includes('content-length: 100'), body]).toEqual(['HTTP/1.1 200 OK', true, 'short']);
  });

  it('§6.3 §9.4 a repeated Content-Type is sent as given; a response Koa cannot take still stops and closes the callable', async () => {
    const record = { closed: 0, aborted: 0 };
    const app = quietKoa()
      .use(async (ctx, next) => {
        // Headers already sent: Koa cannot take the callable's response at all.
        if (ctx.path === '/sent') ctx.res.flushHeaders();
        await next();
      })
      .use(toKoa((environ, startResponse) => {
        environ['ngi.signal'].addEventListener('abort', () => void record.aborted++);
        startResponse('200 OK', [['content-type', 'text/plain'], ['content-type', 'text/html']]);
        // More than Koa takes in one piece, so the callable waits on it.
        const body = (async function* () {
          for (let i = 0; i < 100; i++) yield 'x'.repeat(16 * 1024);
        })();
        return Object.assign(body, { close: () => void record.closed++ });
      }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.all('content-type'), res.body.length, record.closed]).toEqual([200, ['text/plain', 'text/html'], 100 * 16 * 1024, 1]);

    const sent = await open(server.url, '/sent');
    for (let i = 0; i < 100 && record.closed < 2; i++) await sleep(10);
    sent.destroy();
    expect([record.closed, record.aborted, errorsOf(app).length]).toEqual([2, 1, 1]);
  });

  it('§10.3 HEAD keeps the Content-Length the callable declared, and adds none it did not', async () => {
    const app = quietKoa().use(toKoa((environ, startResponse) => {
      const headers: [string, string][] = [['content-type', 'text/plain']];
      if (environ.PATH_INFO === '/sized') headers.push(['content-length', '1234']);
      startResponse('200 OK', headers);
      return ['x'.repeat(environ.PATH_INFO === '/sized' ? 1234 : 10)];
    }));
    const server = await listen(app);
    const sized = await fetchRaw(server.url, '/sized', { method: 'HEAD' });
    expect([sized.status, sized.header('content-length'), sized.body.length]).toEqual([200, '1234', 0]);
    const unsized = await fetchRaw(server.url, '/unsized', { method: 'HEAD' });
    expect([unsized.status, unsized.header('content-length'), unsized.header('content-type')]).toEqual([200, undefined, 'text/plain']);
  });

  it('a callable that sets no Content-Type gets none from Koa, nor the one set upstream', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        ctx.type = 'html';
        await next();
      })
      .use(toKoa((_environ, startResponse) => {
      startResponse('200 OK', []);
      return (async function* () {
        yield 'streamed';
      })();
    }));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.text(), res.header('content-type')]).toEqual([200, 'streamed', undefined]);
  });
});
