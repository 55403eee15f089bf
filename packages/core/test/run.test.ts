import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ResponseDiscarded, createEnviron, request, runApp, stream, type Application, type HeaderList, type ResponseSink } from '../src/index.ts';

const run = promisify(execFile);

/** Runs an app without the validator, recording what the server sent. */
async function serveRaw(app: Application, init: Parameters<typeof createEnviron>[0] = {}) {
  const log: string[] = [];
  const sent = { status: 0, headers: [] as HeaderList, body: '', ended: false, destroyed: false as unknown, errors: log };
  const sink: ResponseSink = {
    head(status, _reason, headers) {
      sent.status = status;
      sent.headers = headers;
    },
    write(bytes) {
      sent.body += typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes);
    },
    end(last) {
      if (last !== undefined) sent.body += typeof last === 'string' ? last : new TextDecoder().decode(last);
      sent.ended = true;
    },
    destroy(error) {
      sent.destroyed = error ?? true;
    },
  };
  await runApp(app, createEnviron({ ...init, errors: { write: (m) => void log.push(m), flush() {} } }), sink);
  return sent;
}

const ok = (body: Iterable<string> | AsyncIterable<string>, headers: HeaderList = [['content-type', 'text/plain']]): Application =>
  (_environ, startResponse) => {
    startResponse('200 OK', headers);
    return body;
  };

describe('startResponse (§6)', () => {
  it.each([
    ['200', '§6.1'],
    ['200OK', '§6.1'],
    ['099 Low', '§6.1'],
    ['103 Early Hints', '§6.1'],
    ['101 Switching Protocols', '§6.1'],
    ['200 Bad\r\nX: y', '§6.1'],
  ])('§6.1 §6.6 rejects status %j with a TypeError naming the rule', async (status, rule) => {
    const sent = await serveRaw((_e, startResponse) => (startResponse(status, []), []));
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain(rule);
  });

  it.each([
    [[['x-a', 'b\r\nx-c: d']], '§6.2'],
    [[['x-a', 'nul\0']], '§6.2'],
    [[['bad name', 'v']], '§6.2'],
    [[['x-a']], '§6.2'],
    [[['Status', '200']], '§6.3'],
    [[['Connection', 'close']], '§6.3'],
    [[['transfer-encoding', 'chunked']], '§6.3'],
    [[['content-length', '1x']], '§6.2'],
  ] as [HeaderList, string][])('§6.2 §6.3 §6.6 rejects headers %j', async (headers, rule) => {
    const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', headers), []));
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain(rule);
  });

  it('§6.1 §6.2 checks every head in full, however often its parts passed before', async () => {
    // Valid names, values and statuses are remembered once checked: what passed must not
    // let a bad neighbour through, and what failed must fail again.
    const good: HeaderList = [['x-a', 'v'], ['content-length', '1']];
    for (let i = 0; i < 3; i++) expect((await serveRaw(ok(['x'], good))).status).toBe(200);
    const bad: [string, HeaderList, string][] = [
      ['200 OK', [['x-a', 'v\r\nx: y'], ['content-length', '1']], '§6.2'],
      ['200 OK', [['x-a', 'v'], ['content-length', '1'], ['content-length', '1']], '§6.2'],
      ['200 OK', [['x-a', 'v'], ['content-length', 'v']], '§6.2'],
      ['200 OK', [['x-a', 'v'], ['content-length', '']], '§6.2'],
      ['200 OK', [['x-a b', 'v']], '§6.2'],
      ['200 OK', [['Connection', 'v']], '§6.3'],
      ['200 OK\r\n', good, '§6.1'],
    ];
    for (let i = 0; i < 2; i++) {
      for (const [status, headers, rule] of bad) {
        const sent = await serveRaw((_e, startResponse) => (startResponse(status, headers), ['x']));
        expect(sent.status).toBe(500);
        expect(sent.errors.join()).toContain(rule);
      }
    }
  });

  it('§6.3 keeps repeated headers in order (set-cookie)', async () => {
    const headers: HeaderList = [['set-cookie', 'a=1'], ['content-type', 'text/plain'], ['set-cookie', 'b=2']];
    const res = await request(ok(['x'], headers));
    expect(res.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
  });

  it('§6.4 refuses a second call without an error', async () => {
    const sent = await serveRaw((_e, startResponse) => {
      startResponse('200 OK', []);
      startResponse('201 Created', []);
      return [];
    });
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain('§6.4');
  });

  it('§6.4 §11.4 a second call with an error replaces the head before it is sent', async () => {
    const res = await request((_e, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      startResponse('503 Service Unavailable', [['content-type', 'text/plain']], new Error('db down'));
      return ['sorry'];
    });
    expect([res.status, res.text()]).toEqual([503, 'sorry']);
  });

  it('§6.4 a second call with an error after the head rethrows it, and the connection drops', async () => {
    const sent = await serveRaw(async function* (_e, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'partial';
      startResponse('500 Oops', [], new Error('late failure'));
    });
    expect(sent.body).toBe('partial');
    expect(sent.destroyed).toBeInstanceOf(Error);
    expect(sent.ended).toBe(false);
    expect(sent.errors.join()).toContain('late failure');
  });

  it('§6.5 startResponse may be called in the first step of iteration', async () => {
    const res = await request(async function* (_e, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'late start';
    });
    expect(res.text()).toBe('late start');
  });

  it('§6.5 a chunk before startResponse is an error', async () => {
    const sent = await serveRaw(() => ['too early']);
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain('§6.5');
  });
});

describe('write (§7) and the head (§8)', () => {
  it('§7.1 write resolves only when the consumer took the chunk (backpressure)', async () => {
    let resolved = 0;
    const res = await stream(async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      await write('a');
      resolved++;
      await write('b');
      resolved++;
      return [];
    });
    const iterator = res.body[Symbol.asyncIterator]();
    expect(new TextDecoder().decode((await iterator.next()).value)).toBe('a');
    expect(resolved).toBe(0);
    await iterator.next();
    await new Promise((r) => setTimeout(r, 5));
    expect(resolved).toBe(1);
    await iterator.next();
  });

  it('§7.2 write with bytes after the body was returned is refused', async () => {
    let failure: unknown;
    const res = await request(
      async function* (_e, startResponse) {
        const write = startResponse('200 OK', [['content-type', 'text/plain']]);
        await write('x').catch((e: unknown) => (failure = e));
        yield 'body';
      },
      { validate: false },
    );
    expect(res.text()).toBe('body');
    expect(String(failure)).toContain('§7.2');
  });

  it('§8.1 an error before the first non-empty chunk still becomes a 500', async () => {
    const sent = await serveRaw(async function* (_e, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield '';
      throw new Error('boom');
    });
    expect(sent.status).toBe(500);
  });

  it('§8.2 empty chunks do not send the head; §8.3 write("") does', async () => {
    let headAt = -1;
    let step = 0;
    const sink: ResponseSink = { head: () => void (headAt = step), write() {}, end() {}, destroy() {} };
    await runApp(
      async function* (_e, startResponse) {
        const write = startResponse('200 OK', [['content-type', 'text/event-stream']]);
        yield '';
        step = 1;
        expect(headAt).toBe(-1);
        await write('');
        step = 2;
        yield 'data: x\n\n';
      },
      createEnviron(),
      sink,
    );
    expect(headAt).toBe(1);
  });
});

describe('after the response', () => {
  it('a startResponse and write kept past the response hold neither the environ nor the sink, sync or async', async () => {
    // In a process of its own: a test runner's own frames can hold on to a value for a while.
    const script = new URL('./fixtures/kept-exchanges.ts', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', script]);
    expect(JSON.parse(stdout)).toEqual({ kept: 20, alive: 0, of: 20 });
  });

  it('hands out a write V8 allocates in the young generation, where a dead one holds nothing alive', async () => {
    const script = new URL('./fixtures/young-write.ts', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', script]);
    expect(JSON.parse(stdout)).toEqual({ old: 0, of: 100 });
  });

  it('§7.2 a write once the response is over is refused; write("") does nothing', async () => {
    let write!: (chunk: string) => Promise<void>;
    const sent = await serveRaw((_environ, startResponse) => {
      write = startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['done'];
    });
    await expect(write('late')).rejects.toThrow('§7.2: write called after the response was over');
    await expect(write('')).resolves.toBeUndefined();
    expect([sent.body, sent.ended]).toEqual(['done', true]);
  });
});

describe('the body (§9)', () => {
  it.each([['a string', 'text'], ['bytes', new Uint8Array([1])], ['undefined', undefined], ['a number', 42]])(
    '§9.1 refuses %s as a body',
    async (_label, body) => {
      const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', []), body as never));
      expect(sent.status).toBe(500);
      expect(sent.errors.join()).toContain('§9.1');
    },
  );

  it('§9.1 refuses a function as a body, suggesting a factory was given where its application belongs', async () => {
    const createApp = () => (_e: unknown, startResponse: (s: string, h: []) => void) => (startResponse('200 OK', []), ['hi']);
    const sent = await serveRaw(createApp as never);
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain('got function (a factory that makes the application? call it, and pass what it returns)');
  });

  it('§9.1 refuses a Response as a body, suggesting a fetch handler was given where an application belongs', async () => {
    const handler = () => new Response('hi');
    const sent = await serveRaw(handler as never);
    expect(sent.errors.join()).toContain('got Response (a fetch handler? wrap it: fromFetch(handler) from @ngi/fetch)');
  });

  it('§9.4 §11.2 settles and closes the body when the sink fails to drop the connection, reporting both errors', async () => {
    const log: string[] = [];
    let closed = 0;
    const app: Application = (_e, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (function* () {
        yield 'partial';
        throw new Error('boom after the head');
      })();
      return Object.assign(body, { close: () => void closed++ });
    };
    const sink: ResponseSink = {
      head() {},
      write() {},
      end() {},
      destroy() {
        throw new Error('the sink broke');
      },
    };
    // A rejection here would end the process (void runApp(…), as servers call it).
    await expect(runApp(app, createEnviron({ errors: { write: (m) => void log.push(m), flush() {} } }), sink)).resolves.toBeUndefined();
    expect(closed).toBe(1);
    expect(log.join('')).toMatch(/§11\.2: the sink failed to drop the connection: Error: the sink broke[\s\S]*§11\.2: error after the response head was sent; connection dropped: Error: boom after the head/);
  });

  it('§9.4 §11.1 calls close() of a returned object that is not iterable, once, after the 500', async () => {
    let closed = 0;
    const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', []), { close: () => void closed++ } as never));
    expect([sent.status, closed]).toEqual([500, 1]);
  });

  it('§9.2 refuses a chunk that is not bytes or a string', async () => {
    const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', []), [42 as never]));
    expect(sent.errors.join()).toContain('§9.2');
  });

  it('§9.2 a lone undefined chunk is refused, not taken for an empty body', async () => {
    const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', []), [undefined as never]));
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain('§9.2');
  });

  it('§1.1 §9.4 §9.5 awaits promises from another realm or library as it does native ones', async () => {
    // An application, its body and its close() made in another realm (a vm context, a test sandbox).
    const app = runInNewContext(`async (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (async function* () { yield 'one'; yield 'two'; })();
      return Object.assign(body, { close: () => Promise.reject(new Error('close failed in another realm')) });
    }`) as Application;
    const foreign = await serveRaw(app);
    expect([foreign.status, foreign.body, foreign.ended]).toEqual([200, 'onetwo', true]);
    expect(foreign.errors.join()).toContain('§9.4: body close() failed: Error: close failed in another realm');
    // A thenable of another promise library.
    const thenable = { then: (resolve: (body: string[]) => void) => resolve(['kept']) };
    const sent = await serveRaw((_e, startResponse) => (startResponse('200 OK', []), thenable as never));
    expect([sent.status, sent.body]).toEqual([200, 'kept']);
  });

  it('§9.2 encodes strings as UTF-8', async () => {
    const res = await request(ok(['héllo ✓']));
    expect([...res.body]).toEqual([...new TextEncoder().encode('héllo ✓')]);
  });

  it('§9.3 sends each chunk as it is produced', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const res = await stream(ok((async function* () { yield 'first'; await gate; yield 'second'; })()));
    const iterator = res.body[Symbol.asyncIterator]();
    expect(new TextDecoder().decode((await iterator.next()).value)).toBe('first');
    release();
    expect(new TextDecoder().decode((await iterator.next()).value)).toBe('second');
  });

  it.each([
    ['normal end', ['a'], false],
    ['application error', (function* () { yield 'a'; throw new Error('x'); })(), false],
    ['client abort', null, true],
  ] as const)('§9.4 calls close() exactly once on %s', async (_label, chunks, abort) => {
    let closed = 0;
    const body = Object.assign(
      chunks ?? (async function* () { yield 'a'; await new Promise(() => {}); })(),
      { close: () => void closed++ },
    );
    const controller = new AbortController();
    const res = await stream(ok(body as Iterable<string>), { signal: controller.signal, validate: false });
    const iterator = res.body[Symbol.asyncIterator]();
    await iterator.next();
    if (abort) controller.abort(new Error('gone'));
    await iterator.next().catch(() => {});
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(1);
  });

  it('§9.4 an error from close() is logged and does not change the response', async () => {
    const body = Object.assign(['ok'], { close: () => { throw new Error('close failed'); } });
    const sent = await serveRaw(ok(body));
    expect([sent.status, sent.body, sent.ended]).toEqual([200, 'ok', true]);
    expect(sent.errors.join()).toContain('close failed');
  });

  it('§9.5 stopping early calls the iterator return()', async () => {
    let returned = false;
    function* body() {
      try {
        yield 'abc';
        yield 'def';
      } finally {
        returned = true;
      }
    }
    const sent = await serveRaw(ok(body(), [['content-type', 'text/plain'], ['content-length', '4']]));
    expect(sent.destroyed).toBeTruthy();
    expect(returned).toBe(true);
  });

  it('§9.6 the body is not iterated before the app returns it', async () => {
    const order: string[] = [];
    await serveRaw(async (_e, startResponse) => {
      startResponse('200 OK', []);
      const body = (function* () { order.push('iterated'); yield 'x'; })();
      await Promise.resolve();
      order.push('returned');
      return body;
    });
    expect(order).toEqual(['returned', 'iterated']);
  });
});

describe('Content-Length and bodiless responses (§10)', () => {
  it('§10.1 never sends more than Content-Length: the connection drops', async () => {
    const sent = await serveRaw(ok(['12345', '678'], [['content-type', 'text/plain'], ['content-length', '6']]));
    expect(sent.body).toBe('12345');
    expect(sent.destroyed).toBeTruthy();
    expect(sent.errors.join()).toContain('§10.1');
  });

  it('§10.1 a first chunk past Content-Length is a 500, nothing sent', async () => {
    const sent = await serveRaw(ok(['12345678'], [['content-type', 'text/plain'], ['content-length', '6']]));
    expect(sent.status).toBe(500);
  });

  it('§10.1 a short body closes the connection and is logged', async () => {
    const sent = await serveRaw(ok(['123'], [['content-type', 'text/plain'], ['content-length', '6']]));
    expect([sent.body, sent.ended]).toEqual(['123', false]);
    expect(sent.destroyed).toBeTruthy();
    expect(sent.errors.join()).toContain('§10.1');
  });

  it.each(['HEAD'])('§10.3 sends no body for %s and keeps Content-Length', async (method) => {
    let iterated = false;
    const body = (function* () { iterated = true; yield 'hello'; })();
    const sent = await serveRaw(ok(body, [['content-type', 'text/plain'], ['content-length', '5']]), { method });
    expect([sent.status, sent.body, sent.ended, iterated]).toEqual([200, '', true, false]);
    expect(sent.headers).toContainEqual(['content-length', '5']);
  });

  it.each(['204 No Content', '304 Not Modified'])('§10.3 sends no body for %s', async (status) => {
    const sent = await serveRaw((_e, startResponse) => (startResponse(status, []), ['ignored']));
    expect([sent.status, sent.body, sent.ended]).toEqual([Number(status.slice(0, 3)), '', true]);
  });
});

describe('errors (§11)', () => {
  it('a write the sink rejects with ResponseDiscarded stops and closes the body, logging and dropping nothing', async () => {
    let closed = 0;
    let destroyed = false;
    const log: string[] = [];
    const body = Object.assign(
      (function* () {
        for (;;) yield 'chunk';
      })(),
      { close: () => void closed++ },
    );
    // The framework sent another response after the first chunk.
    let writes = 0;
    const sink: ResponseSink = {
      head() {},
      write: () => (++writes > 1 ? Promise.reject(new ResponseDiscarded()) : undefined),
      end() {},
      destroy: () => void (destroyed = true),
    };
    await runApp(ok(body), createEnviron({ errors: { write: (m) => void log.push(m), flush() {} } }), sink);
    expect([writes, closed, destroyed, log]).toEqual([2, 1, false, []]);
  });

  it.each([
    ['a synchronous throw', () => { throw new Error('sync'); }],
    ['a rejected promise', async () => { throw new Error('async'); }],
    ['a throw while producing the first chunk', ok((function* () { throw new Error('gen'); })())],
  ] as [string, Application][])('§11.1 %s before the head is a 500, logged', async (_label, app) => {
    const sent = await serveRaw(app);
    expect([sent.status, sent.body]).toEqual([500, 'Internal Server Error']);
    expect(sent.errors.join()).toContain('§11.1');
  });

  it('§11.1 a sink that cannot send even the 500 drops the connection, and runApp still resolves', async () => {
    const log: string[] = [];
    let destroyed: unknown;
    let closed = 0;
    const sink: ResponseSink = {
      head: (status) => {
        throw new Error(`the transport refuses ${status}`);
      },
      write() {},
      end() {},
      destroy: (error) => void (destroyed = error),
    };
    const body = Object.assign(['hi'], { close: () => void closed++ });
    await runApp(ok(body), createEnviron({ errors: { write: (m) => void log.push(m), flush() {} } }), sink);
    expect([(destroyed as Error).message, closed]).toEqual(['the transport refuses 500', 1]);
    expect(log.join()).toContain('§11.1: the answer to an error could not be sent; connection dropped: Error: the transport refuses 500');
  });

  it('§11.2 a throw after the head drops the connection, no complete-looking response', async () => {
    const sent = await serveRaw(ok((function* () { yield 'a'; throw new Error('mid'); })()));
    expect([sent.status, sent.body, sent.ended]).toEqual([200, 'a', false]);
    expect(sent.destroyed).toBeInstanceOf(Error);
    expect(sent.errors.join()).toContain('§11.2');
  });

  it('§11.3 a body that ends without startResponse is an error', async () => {
    const sent = await serveRaw(() => []);
    expect(sent.status).toBe(500);
    expect(sent.errors.join()).toContain('§11.3');
  });
});

describe('client disconnect (§12)', () => {
  it('§12.1 an abort stops a body waiting forever, rejects write and closes once', async () => {
    let closed = 0;
    let writeFailed = false;
    const controller = new AbortController();
    const app: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      await write('first');
      const body = (async function* () {
        await new Promise(() => {});
        yield 'never';
      })();
      setTimeout(() => void write('x').catch(() => (writeFailed = true)), 20);
      return Object.assign(body, { close: () => void closed++ });
    };
    const res = await stream(app, { signal: controller.signal, validate: false });
    const iterator = res.body[Symbol.asyncIterator]();
    await iterator.next();
    setTimeout(() => controller.abort(new Error('gone')), 10);
    await expect(iterator.next()).rejects.toThrow('abandoned');
    await new Promise((r) => setTimeout(r, 30));
    expect([closed, writeFailed]).toEqual([1, true]);
  });

  it.each([
    ['a sync body', () => ['a', 'b']],
    ['an async body', () => (async function* () { yield 'a'; yield 'b'; })()],
  ])('§12.1 with the client gone, a write the sink refuses is not left an unhandled rejection (%s)', async (_label, body) => {
    // The client left before the head, and the host dropped the response: the sink refuses writes.
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    const sink: ResponseSink = { head() {}, write: () => Promise.reject(new ResponseDiscarded()), end() {}, destroy() {} };
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    let closed = 0;
    try {
      const app = ok(Object.assign(body(), { close: () => void closed++ }));
      await runApp(app, createEnviron({ signal: controller.signal, errors: { write() {}, flush() {} } }), sink);
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('unhandledRejection', record);
    }
    expect([unhandled, closed]).toEqual([[], 1]);
  });

  it('§12.2 §4.6 the signal does not abort after a normal response', async () => {
    let signal!: AbortSignal;
    await request((environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['done'];
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(signal.aborted).toBe(false);
  });
});

describe('client errors (§11.1)', () => {
  it('§11.1 an HttpError before the head is answered with its own status and message', async () => {
    const { HttpError } = await import('../src/index.ts');
    const sent = await serveRaw(() => {
      throw new HttpError(413, 'Request body exceeds the limit of 10 bytes');
    });
    expect([sent.status, sent.body]).toEqual([413, 'Request body exceeds the limit of 10 bytes']);
    expect(sent.errors).toEqual([]);
  });

  it.each([
    [403, 'Forbidden'],
    [429, 'Too Many Requests'],
    [503, 'Service Unavailable'],
  ])('§11.1 an HttpError %i is answered with its reason phrase, %s', async (status, reason) => {
    const { HttpError } = await import('../src/index.ts');
    const res = await request(() => {
      throw new HttpError(status, 'because');
    });
    expect([res.status, res.statusText, res.text()]).toEqual([status, reason, 'because']);
  });
});
