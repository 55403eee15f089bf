import { validator, type Application, type Environ } from '@ngi/core';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { toKoa } from '../src/index.ts';
import { closeAll, deferred, errorLog, fetchRaw, listen, open, quietKoa, sleep } from './_helpers.ts';
import { WRITE_SIZE, unawaitedWrites } from '../../../test/fixtures/unawaited-writes.ts';
import { signalInClose } from '../../../test/fixtures/left-early.ts';

afterEach(closeAll);

/** A streaming callable that records what happened to it. */
function recorder(produce: (environ: Environ) => AsyncGenerator<string | Uint8Array>) {
  const record = { produced: 0, closed: 0, finallyRan: false, abortReason: undefined as unknown };
  const app: Application = (environ, startResponse) => {
    environ['ngi.signal'].addEventListener('abort', () => (record.abortReason = environ['ngi.signal'].reason));
    startResponse('200 OK', [['content-type', 'application/octet-stream']]);
    const inner = produce(environ);
    const body = (async function* () {
      try {
        for await (const chunk of inner) {
          record.produced++;
          yield chunk;
        }
      } finally {
        record.finallyRan = true;
      }
    })();
    return Object.assign(body, { close: () => void record.closed++ });
  };
  return { app, record };
}

describe('toKoa: streaming responses', () => {
  it('§7.1 §9.3 backpressure: a client that does not read stops the callable; reading lets it finish', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(97);
    const { app, record } = recorder(async function* () {
      for (let i = 0; i < 1000; i++) yield chunk;
    });
    const server = await listen(quietKoa().use(toKoa(validator(app), { errors: errorLog() })));
    const res = await open(server.url, '/');
    await sleep(300);
    const whileStalled = record.produced;
    // 1000 chunks are 64 MiB; without backpressure they would all be produced by now.
    expect(whileStalled).toBeLessThan(400);
    let total = 0;
    for await (const part of res) total += (part as Buffer).length;
    expect([total, record.produced, record.closed]).toEqual([64 * 1024 * 1000, 1000, 1]);
  });

  it('§7.1 writes made without awaiting the one before all resolve once the client reads', async () => {
    const { app, resolved } = unawaitedWrites();
    const server = await listen(quietKoa().use(toKoa(app)));
    const res = await open(server.url, '/');
    let length = 0;
    res.on('data', (part: Buffer) => void (length += part.length));
    for (let i = 0; i < 100 && !resolved(); i++) await sleep(10);
    expect(resolved()).toBe(true);
    await new Promise((resolve) => res.once('end', resolve));
    expect(length).toBe(3 * WRITE_SIZE);
  });

  it('§12.1 §9.4 §9.5 a client that leaves aborts ngi.signal, ends the iteration and closes the body once', async () => {
    const { app, record } = recorder(async function* (environ) {
      while (!environ['ngi.signal'].aborted) {
        yield 'tick\n';
        await sleep(5);
      }
    });
    const server = await listen(quietKoa().use(toKoa(app)));
    const res = await open(server.url, '/');
    await res[Symbol.asyncIterator]().next();
    res.destroy();
    for (let i = 0; i < 100 && (record.closed === 0 || !record.finallyRan); i++) await sleep(10);
    await sleep(20);
    expect([record.closed, record.finallyRan, (record.abortReason as Error)?.message]).toEqual([1, true, 'The client disconnected']);
  });

  it('never a stall: a callable that never answers does not hold Koa\'s chain once the client leaves', async () => {
    const returned = deferred<string>();
    const koa = quietKoa()
      .use(async (_ctx, next) => {
        await next();
        returned.resolve('upstream resumed');
      })
      .use(toKoa(() => new Promise<never>(() => {})));
    const server = await listen(koa);
    const controller = new AbortController();
    const req = open(server.url, '/', { signal: controller.signal }).catch(() => undefined);
    await sleep(30);
    controller.abort();
    await req;
    expect(await returned.promise).toBe('upstream resumed');
  });

  it('§12.1 a callable that answers after the client left sees ngi.signal aborted, is closed once, and nothing is left unhandled', async () => {
    const closed = deferred();
    const seen: boolean[] = [];
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    onTestFinished(() => void process.off('unhandledRejection', record));
    const slow: Application = async (environ, startResponse) => {
      await sleep(60);
      seen.push(environ['ngi.signal'].aborted);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      // A sync body: its chunks go out in the turn it is returned, after the response was given up.
      return Object.assign(['a', 'b'].values(), { close: () => closed.resolve() });
    };
    const server = await listen(quietKoa().use(toKoa(slow, { errors: errorLog() })));
    const controller = new AbortController();
    const req = open(server.url, '/', { signal: controller.signal }).catch(() => undefined);
    await sleep(20);
    controller.abort();
    await req;
    await closed.promise;
    await sleep(20);
    expect({ seen, unhandled }).toEqual({ seen: [true], unhandled: [] });
  });

  it('§12.1 a client that left before the callable answered aborts ngi.signal, though a middleware ended the response on its close first', async () => {
    const endsOnClose = (ctx: { res: { on(event: 'close', listener: () => void): void; end(): void } }, next: () => Promise<void>) => (ctx.res.on('close', () => ctx.res.end()), next());
    const start = (app: Application) => listen(quietKoa().use(endsOnClose).use(toKoa(app, { errors: errorLog() })));
    expect(await signalInClose(start, '/', true)).toBe(true);
  });

  it('a middleware that replaces the streaming body (a conditional GET\'s 304) stops the callable and closes it', async () => {
    const { app, record } = recorder(async function* () {
      for (;;) {
        yield 'event\n';
        await sleep(5);
      }
    });
    const koa = quietKoa()
      .use(async (ctx, next) => {
        await next();
        if (ctx.get('if-none-match') === '"v1"') ctx.status = 304;
      })
      .use(toKoa(app));
    const server = await listen(koa);
    const res = await fetchRaw(server.url, '/', { headers: { 'if-none-match': '"v1"' } });
    expect([res.status, res.body.length]).toEqual([304, 0]);
    for (let i = 0; i < 100 && (record.closed === 0 || !record.finallyRan); i++) await sleep(10);
    // The 304 went out whole: ngi.signal stays quiet (§4.6); the next write fails instead.
    expect([record.closed, record.finallyRan, record.abortReason]).toEqual([1, true, undefined]);
  });

  it('§11.2 a callable failing while middleware upstream still holds its response: cut short, no crash', async () => {
    const errors = errorLog();
    const failed = deferred();
    const koa = quietKoa()
      .use(async (_ctx, next) => {
        await next();
        await failed.promise; // nobody reads the body stream yet when the callable fails
        await sleep(10);
      })
      .use(toKoa((_environ, startResponse) => {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return (async function* () {
          yield 'partial';
          await sleep(10);
          failed.resolve();
          throw new Error('late failure, nobody reading');
        })();
      }, { errors }));
    const server = await listen(koa);
    await expect(fetchRaw(server.url, '/')).rejects.toThrow();
    expect(errors.lines.join('')).toMatch(/§11\.2.*late failure, nobody reading/s);
  });

  it('§12.1 the client leaving while middleware upstream still holds the response aborts and closes the callable', async () => {
    const left = deferred();
    const { app, record } = recorder(async function* () {
      for (;;) {
        yield 'tick\n';
        await sleep(5);
      }
    });
    const koa = quietKoa()
      .use(async (ctx, next) => {
        await next();
        await left.promise; // Koa has not started sending the body when the client goes
        await sleep(20);
      })
      .use(toKoa(app));
    const server = await listen(koa);
    const controller = new AbortController();
    const req = open(server.url, '/', { signal: controller.signal }).catch(() => undefined);
    await sleep(30);
    controller.abort();
    await req;
    await sleep(20);
    left.resolve();
    for (let i = 0; i < 100 && (record.closed === 0 || !record.finallyRan); i++) await sleep(10);
    expect([record.closed, (record.abortReason as Error)?.message]).toEqual([1, 'The client disconnected']);
  });

  it('a 205, which Koa sends without a body, stops and closes a callable that streams one anyway', async () => {
    const { app, record } = recorder(async function* () {
      for (;;) {
        yield 'x'.repeat(16 * 1024);
        await sleep(1);
      }
    });
    const reset: Application = (environ, startResponse) =>
      app(environ, (_status, headers, error) => startResponse('205 Reset Content', headers, error));
    const server = await listen(quietKoa().use(toKoa(reset)));
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.body.length]).toEqual([205, 0]);
    for (let i = 0; i < 100 && (record.closed === 0 || !record.finallyRan); i++) await sleep(10);
    expect([record.closed, record.finallyRan]).toEqual([1, true]);
  });

  it('§12.2 a response that completes does not abort ngi.signal', async () => {
    const { app, record } = recorder(async function* () {
      yield 'one;';
      await sleep(5);
      yield 'two';
    });
    const server = await listen(quietKoa().use(toKoa(app)));
    expect((await fetchRaw(server.url, '/')).text()).toBe('one;two');
    await sleep(20);
    expect([record.closed, record.abortReason]).toEqual([1, undefined]);
  });

  it('§8.3 write("") sends the head, with headers upstream middleware adds, before the first event', async () => {
    const release = deferred();
    const app: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/event-stream']]);
      await write('');
      return (async function* () {
        await release.promise;
        yield 'data: one\n\n';
      })();
    };
    const koa = quietKoa()
      .use(async (ctx, next) => {
        await next();
        ctx.set('x-upstream', 'seen');
      })
      .use(toKoa(app));
    const server = await listen(koa);
    const res = await open(server.url, '/');
    expect([res.headers['content-type'], res.headers['x-upstream']]).toEqual(['text/event-stream', 'seen']);
    release.resolve();
    let events = '';
    for await (const chunk of res) events += String(chunk);
    expect(events).toBe('data: one\n\n');
  });
});
