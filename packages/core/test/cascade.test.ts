import { createHash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  HttpError,
  cascade,
  createEnviron,
  request,
  type Application,
  type HeaderList,
  type ResponseBody,
  type Write,
} from '../src/index.ts';

const TEXT: HeaderList = [['content-type', 'text/plain']];

const answer =
  (status: string, text: string, headers: HeaderList = []): Application =>
  (_environ, startResponse) => {
    startResponse(status, [...TEXT, ...headers]);
    return [text];
  };

/** A body that counts how often it is iterated and closed. */
function tracked(chunks: string[]) {
  const stats = { iterated: 0, closed: 0 };
  const body: ResponseBody = {
    [Symbol.iterator]() {
      stats.iterated++;
      return chunks[Symbol.iterator]();
    },
    close() {
      stats.closed++;
    },
  };
  return { body, stats };
}

const respondWith =
  (status: string, body: ResponseBody, headers: HeaderList = []): Application =>
  (_environ, startResponse) => {
    startResponse(status, [...TEXT, ...headers]);
    return body;
  };

describe('cascade (§14.1)', () => {
  it('§14.1 answers with the first response that is not a 404 and runs no further app', async () => {
    let thirdCalled = false;
    const app = cascade([
      answer('404 Not Found', 'a'),
      answer('200 OK', 'b'),
      (e, s) => ((thirdCalled = true), answer('200 OK', 'c')(e, s)),
    ]);
    const res = await request(app);
    expect([res.status, res.text(), thirdCalled]).toEqual([200, 'b', false]);
  });

  it('§14.1 cascades on 405 too, and on the statuses given', async () => {
    expect((await request(cascade([answer('405 Method Not Allowed', 'a'), answer('201 Created', 'b')]))).text()).toBe('b');
    const forbidden = [answer('403 Forbidden', 'a'), answer('200 OK', 'b')];
    expect((await request(cascade(forbidden))).status).toBe(403);
    expect((await request(cascade(forbidden, { statuses: [403] }))).text()).toBe('b');
    const notFound = cascade([answer('404 Not Found', 'a'), answer('200 OK', 'b')], { statuses: [403] });
    expect([(await request(notFound)).status, (await request(notFound)).text()]).toEqual([404, 'a']);
  });

  it('§14.1 returns the last response, head and body, when every app cascades', async () => {
    const app = cascade([answer('404 Not Found', 'a', [['x-from', 'a']]), answer('405 Method Not Allowed', 'b', [['x-from', 'b']])]);
    const res = await request(app);
    expect([res.status, res.text(), res.header('x-from')]).toEqual([405, 'b', 'b']);
  });

  it('§13.4 never sends the head of a declined response', async () => {
    const app = cascade([answer('404 Not Found', 'a', [['x-from', 'a'], ['set-cookie', 'a=1']]), answer('200 OK', 'b')]);
    const res = await request(app);
    expect(res.headers.map(([name]) => name)).toEqual(['content-type']);
  });

  it('§13.4 §9.4 closes each declined body exactly once without iterating it', async () => {
    const first = tracked(['first']);
    const second = tracked(['second']);
    const winner = tracked(['winner']);
    const app = cascade([
      respondWith('404 Not Found', first.body),
      respondWith('405 Method Not Allowed', second.body),
      respondWith('200 OK', winner.body),
    ]);
    expect((await request(app)).text()).toBe('winner');
    expect([first.stats, second.stats, winner.stats]).toEqual([
      { iterated: 0, closed: 1 },
      { iterated: 0, closed: 1 },
      { iterated: 1, closed: 1 },
    ]);
  });

  it('§7.1 drops what a declined app writes and forwards what the winner writes', async () => {
    const writer =
      (status: string, text: string): Application =>
      async (_environ, startResponse) => {
        const write = startResponse(status, TEXT);
        await write(text);
        return ['!'];
      };
    const res = await request(cascade([writer('404 Not Found', 'lost'), writer('200 OK', 'kept')]));
    expect(res.text()).toBe('kept!');
  });

  it('§6.4 a second call with an error replaces a declining status, and that answer wins', async () => {
    let laterCalled = false;
    const failing: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', TEXT);
      startResponse('503 Service Unavailable', TEXT, new Error('db down'));
      return ['down'];
    };
    const res = await request(cascade([failing, (e, s) => ((laterCalled = true), answer('200 OK', 'b')(e, s))]));
    expect([res.status, res.text(), laterCalled]).toEqual([503, 'down', false]);
  });

  it('§6.4 §6.6 still refuses a second call without an error from a declined app', async () => {
    const twice: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', TEXT);
      startResponse('200 OK', TEXT);
      return [];
    };
    const res = await request(cascade([twice, answer('200 OK', 'b')]));
    expect(res.status).toBe(500);
    expect(res.errors.join()).toContain('§6.4');
  });

  it('§6.3 §6.6 checks the head of a declined response too', async () => {
    const res = await request(cascade([answer('404 Not Found', 'a', [['Connection', 'close']]), answer('200 OK', 'b')]));
    expect(res.status).toBe(500);
    expect(res.errors.join()).toContain('§6.3');
  });

  it('§13.2 gives each app its own copy of environ', async () => {
    const seen: unknown[] = [];
    const meddler: Application = (environ, startResponse) => {
      environ.PATH_INFO = '/changed';
      environ['x.flag'] = true;
      return answer('404 Not Found', '')(environ, startResponse);
    };
    const reporter: Application = (environ, startResponse) => {
      seen.push(environ.PATH_INFO, environ['x.flag']);
      return answer('200 OK', '')(environ, startResponse);
    };
    const environ = createEnviron({ url: '/path' });
    const before = { ...environ };
    await cascade([meddler, reporter])(environ, () => (async () => {}) as Write);
    expect(seen).toEqual(['/path', undefined]);
    expect(environ).toEqual(before);
  });

  it.each([
    ['apps passed one by one', () => cascade(answer('200 OK', 'a') as unknown as Application[]), /cascade: apps must be an array of applications, got function/],
    ['a hole in the list', () => cascade([, answer('200 OK', 'b')] as Application[]), /apps\[0\]/],
    ['null options', () => cascade([answer('200 OK', 'a')], null as unknown as object), /cascade: options must be an object/],
  ])('rejects %s with a TypeError that names it', (_what, call, message) => {
    expect(call).toThrow(TypeError);
    expect(call).toThrow(message);
  });

  it('rejects an empty list and bad options with a TypeError', () => {
    expect(() => cascade([])).toThrow(TypeError);
    expect(() => cascade([answer('200 OK', '')], { statuses: [404, 4040] })).toThrow(TypeError);
    expect(() => cascade([answer('200 OK', '')], { limit: -1 })).toThrow(TypeError);
    expect(() => cascade([answer('200 OK', '')], { limit: '1024' as never })).toThrow('options.limit must be a non-negative integer, got string');
    expect(() => cascade([answer('200 OK', ''), 'x' as unknown as Application])).toThrow(/apps\[1\]/);
  });
});

describe('cascade with startResponse inside the first iteration step (§6.5)', () => {
  const generatorApp = (status: string, chunks: string[], log: string[]): Application =>
    async function* (_environ, startResponse) {
      try {
        startResponse(status, TEXT);
        for (const chunk of chunks) {
          log.push(`yield ${chunk}`);
          yield chunk;
        }
      } finally {
        log.push('finally');
      }
    };

  it('§6.5 §9.5 declines a lazy 404 after one step and ends its generator', async () => {
    const log: string[] = [];
    const app = cascade([generatorApp('404 Not Found', ['a1', 'a2', 'a3'], log), generatorApp('200 OK', ['b1', 'b2', 'b3'], [])]);
    const res = await request(app);
    expect([res.status, res.text()]).toEqual([200, 'b1b2b3']);
    expect(log).toEqual(['yield a1', 'finally']);
  });

  it('§6.5 keeps the winner’s first chunk, exactly once', async () => {
    const log: string[] = [];
    const app = cascade([generatorApp('200 OK', ['one', 'two', 'three'], log), answer('200 OK', 'never')]);
    const res = await request(app);
    expect([res.status, res.text()]).toEqual([200, 'onetwothree']);
    expect(log).toEqual(['yield one', 'yield two', 'yield three', 'finally']);
  });

  it('§9.5 §13.4 ends a probed winner’s generator when the server closes it without iterating', async () => {
    // A server may close a body it never iterates (§9.4, §10.3); the cascade started it, so it must end it.
    const log: string[] = [];
    const lazy = generatorApp('200 OK', ['one', 'two'], log);
    const body = await cascade([lazy, answer('200 OK', 'never')])(createEnviron(), () => (async () => {}) as Write);
    await body.close?.();
    await body.close?.();
    expect(log).toEqual(['yield one', 'finally']);
  });

  it('§6.5 §8.2 looks past empty chunks yielded before startResponse, and keeps them for a winner', async () => {
    const hesitant = (status: string, text: string): Application =>
      async function* (_environ, startResponse) {
        yield '';
        yield new Uint8Array(0);
        startResponse(status, TEXT);
        yield text;
      };
    const res = await request(cascade([hesitant('404 Not Found', 'no'), answer('200 OK', 'yes')]));
    expect([res.status, res.text()]).toEqual([200, 'yes']);
    // §13.3: every chunk of the winner still comes through, the empty ones included.
    const chunks: unknown[] = [];
    const body = await cascade([hesitant('200 OK', 'yes'), answer('200 OK', 'never')])(createEnviron(), () => (async () => {}) as Write);
    for await (const chunk of body as AsyncIterable<unknown>) chunks.push(chunk);
    expect(chunks).toEqual(['', new Uint8Array(0), 'yes']);
  });

  it('§6.5 handles sync generator bodies and closes a probed, declined body', async () => {
    let closed = 0;
    const declined: Application = (_environ, startResponse) => {
      const body = (function* () {
        startResponse('404 Not Found', TEXT);
        yield 'no';
      })();
      return Object.assign(body, { close: () => void closed++ });
    };
    const winner: Application = function* (_environ, startResponse) {
      startResponse('200 OK', TEXT);
      yield 'yes';
      yield '!';
    };
    const res = await request(cascade([declined, winner]));
    expect([res.text(), closed]).toEqual(['yes!', 1]);
  });

  it('§11.1 an error in the first step is a 500, not a reason to cascade, and the body is closed', async () => {
    let closed = 0;
    let laterCalled = false;
    const broken: Application = () => ({
      async *[Symbol.asyncIterator]() {
        throw new Error('boom');
      },
      close: () => void closed++,
    });
    const res = await request(cascade([broken, (e, s) => ((laterCalled = true), answer('200 OK', 'b')(e, s))]));
    expect([res.status, closed, laterCalled]).toEqual([500, 1, false]);
    expect(res.errors.join()).toContain('boom');
  });
});

describe('cascade replays the request body (§4.3)', () => {
  const bytes = randomBytes(300 * 1024);
  const expected = `${bytes.length} ${sha(bytes)}`;
  const post = (app: Application) => request(app, { method: 'POST', body: chunked(bytes, 50_000) });

  /** Reads the whole body; answers its size and SHA-256, or the status of the error it hit. */
  const hasher: Application = async (environ, startResponse) => {
    try {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of environ['ngi.input']) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
      startResponse('200 OK', TEXT);
      return [`${size} ${hash.digest('hex')}`];
    } catch (error) {
      startResponse(`${error instanceof HttpError ? error.status : 500} Error`, TEXT);
      return [String(error)];
    }
  };

  /** The same, answering first: reads the body as its response streams. */
  const streamingHasher: Application = (environ, startResponse) => {
    startResponse('200 OK', TEXT);
    return (async function* () {
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of environ['ngi.input']) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
      yield `${size} ${hash.digest('hex')}`;
    })();
  };

  /** Reads `count` chunks (Infinity: all), leaving the iterator where it stopped, then declines. */
  const reader =
    (count: number, status = '404 Not Found'): Application =>
    async (environ, startResponse) => {
      const iterator = environ['ngi.input'][Symbol.asyncIterator]();
      for (let i = 0; i < count; i++) if ((await iterator.next()).done) break;
      startResponse(status, TEXT);
      return [];
    };

  it.each([
    ['read none of it', [reader(0)]],
    ['read one chunk', [reader(1)]],
    ['read all of it', [reader(Infinity)]],
    ['read one chunk, then two', [reader(1), reader(2, '405 Method Not Allowed')]],
  ])('§4.3 reaches a later app intact when earlier apps %s', async (_, before) => {
    const res = await post(cascade([...before, hasher]));
    expect([res.status, res.text()]).toEqual([200, expected]);
  });

  it('§4.3 reaches a later app intact when an earlier one wrote over the chunks it read (a password scrubbed)', async () => {
    const scrubber: Application = async (environ, startResponse) => {
      for await (const chunk of environ['ngi.input']) chunk.fill(42);
      startResponse('404 Not Found', TEXT);
      return [];
    };
    // Node's chunks are Buffers, whose own slice() is a view of the same memory.
    const res = await request(cascade([scrubber, hasher]), { method: 'POST', body: chunked(Buffer.from(bytes), 50_000) });
    expect([res.status, res.text()]).toEqual([200, expected]);
  });

  it('§4.3 survives an earlier app that broke out of for-await', async () => {
    const breaker: Application = async (environ, startResponse) => {
      for await (const _ of environ['ngi.input']) break;
      return answer('404 Not Found', '')(environ, startResponse);
    };
    expect((await post(cascade([breaker, hasher]))).text()).toBe(expected);
  });

  it('§4.3 streams the body to the first app past the limit', async () => {
    const res = await post(cascade([hasher, answer('200 OK', 'never')], { limit: 10 }));
    expect([res.status, res.text()]).toEqual([200, expected]);
  });

  it('§4.3 a later app reads past the limit when earlier apps read less than the limit', async () => {
    const res = await post(cascade([reader(1), hasher], { limit: 60_000 }));
    expect(res.text()).toBe(expected);
  });

  it('§4.3 a later app that needs more replay than the limit kept gets a 413', async () => {
    const res = await post(cascade([reader(2), hasher], { limit: 60_000 }));
    expect(res.status).toBe(413);
    expect(res.text()).toContain('60000');
  });

  it('§4.3 keeps at most 64 chunks and one more per 256 bytes of the limit: a body sent a byte at a time cannot hold hundreds of times the limit', async () => {
    async function* bytewise() {
      for (let i = 0; i < 2000; i++) yield new Uint8Array([i % 256]);
    }
    const apps = cascade([reader(Infinity), hasher], { limit: 4096 });
    const res = await request(apps, { method: 'POST', body: bytewise() });
    expect([res.status, res.text()]).toEqual([413, expect.stringContaining('4096-byte replay limit')]);
    // The same 2000 bytes in one chunk fit, and so do a few bytes under a limit smaller than a chunk's cost.
    const whole = await request(apps, { method: 'POST', body: (async function* () { yield new Uint8Array(2000); })() });
    expect(whole.status).toBe(200);
    const small = await request(cascade([reader(Infinity), hasher], { limit: 100 }), { method: 'POST', body: (async function* () { yield new Uint8Array(5); })() });
    expect(small.status).toBe(200);
  });

  it('§4.3 past the limit, a later app that does not read the body still answers', async () => {
    const res = await post(cascade([reader(Infinity), answer('200 OK', 'fine')], { limit: 1000 }));
    expect([res.status, res.text()]).toEqual([200, 'fine']);
  });

  it.each([
    ['the last', (eager: Application) => [eager, hasher]],
    ['an app before the last that answers first and reads as it streams', (eager: Application) => [eager, streamingHasher, answer('200 OK', 'never')]],
  ])('§4.3 reaches %s app whole when a declined app was still reading as it started (Rack rewinds)', async (_, apps) => {
    // Still waiting for the first chunk when it declines: that chunk arrives for the next app.
    const eager: Application = (environ, startResponse) => {
      void (async () => {
        for await (const _ of environ['ngi.input']);
      })().catch(() => {});
      startResponse('404 Not Found', TEXT);
      return [];
    };
    async function* slow() {
      await new Promise((resolve) => setTimeout(resolve, 5));
      yield* chunked(bytes, 50_000);
    }
    const res = await request(cascade(apps(eager)), { method: 'POST', body: slow() });
    expect([res.status, res.text()]).toEqual([200, expected]);
  });

  it('§4.3 a declined app’s ngi.input stops working, so it cannot take chunks from the next app', async () => {
    let stolen: AsyncIterable<Uint8Array> | undefined;
    const thief: Application = (environ, startResponse) => {
      stolen = environ['ngi.input'];
      return answer('404 Not Found', '')(environ, startResponse);
    };
    const checker: Application = async (environ, startResponse) => {
      const refused = await stolen![Symbol.asyncIterator]().next().then(() => 'read', (e: Error) => e.message);
      const body = (await hasher(environ, startResponse)) as string[];
      return [`${refused} | `, ...body];
    };
    const res = await post(cascade([thief, checker]));
    expect(res.text()).toBe(`cascade: this response was discarded; ngi.input now belongs to the next application | ${expected}`);
  });
});

async function* chunked(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('cascade: what it holds, and a client that left', () => {
  const gc = (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();
  const MiB = 1024 * 1024;

  /** 16 MiB of request body in 64 KiB chunks, each made when it is read. */
  async function* upload(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 256; i++) yield new Uint8Array(64 * 1024).fill(i);
  }

  /**
   * ArrayBuffer bytes held after full collections, relative to `base`. V8 frees the memory of
   * dead ArrayBuffers on a background thread after a collection: the second one waits for it.
   */
  async function heldSince(base: number): Promise<number> {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    return process.memoryUsage().arrayBuffers - base;
  }

  /** Reads the whole body, then tells how many bytes it read and how many the process still holds. */
  const reader =
    (base: () => number, held: number[]): Application =>
    (environ, startResponse) => {
      startResponse('200 OK', TEXT);
      return (async function* () {
        let read = 0;
        for await (const chunk of environ['ngi.input']) read += chunk.byteLength;
        held.push(await heldSince(base()));
        yield `read ${read}`;
      })();
    };

  it('§13.4 the body an answering application reads (before or after it answers), or the last one replays, is not kept while its response streams', async () => {
    let base = 0;
    const held: number[] = [];
    const declinesAfterReading: Application = async (environ, startResponse) => {
      for await (const _ of environ['ngi.input']);
      startResponse('404 Not Found', [...TEXT, ['x-cascade', 'pass']]);
      return [];
    };
    // Reads half the body before it answers (to decide how), the rest as its response streams.
    const readsThenAnswers: Application = async (environ, startResponse) => {
      const chunks = environ['ngi.input'][Symbol.asyncIterator]();
      let read = 0;
      for (let i = 0; i < 128; i++) read += ((await chunks.next()).value as Uint8Array).byteLength;
      startResponse('200 OK', TEXT);
      return (async function* () {
        for (let step = await chunks.next(); !step.done; step = await chunks.next()) read += step.value.byteLength;
        held.push(await heldSince(base));
        yield `read ${read}`;
      })();
    };
    const winner = cascade([reader(() => base, held), answer('200 OK', 'never')], { limit: Infinity });
    const replayed = cascade([declinesAfterReading, reader(() => base, held)], { limit: Infinity });
    const parsed = cascade([readsThenAnswers, answer('200 OK', 'never')], { limit: Infinity });
    for (const app of [winner, replayed, parsed]) {
      base = await heldSince(0);
      expect((await request(app, { method: 'POST', body: upload() })).text()).toBe(`read ${16 * MiB}`);
    }
    // Recorded for a replay nobody will make, the 16 MiB would all still be held.
    expect(held.map((bytes) => bytes < 4 * MiB)).toEqual([true, true, true]);
  });

  it('§12.1 does not run the next application for a client that left, nor wait on a body that yields only empty chunks', async () => {
    const client = new AbortController();
    let ranNext = false;
    const leaves: Application = (_environ, startResponse) => {
      client.abort(new Error('client left'));
      startResponse('404 Not Found', [...TEXT, ['x-cascade', 'pass']]);
      return [];
    };
    const next: Application = (_environ, startResponse) => {
      ranNext = true;
      startResponse('200 OK', TEXT);
      return ['next'];
    };
    // The client is gone: the test client rejects with the response abandoned.
    await request(cascade([leaves, next]), { signal: client.signal }).catch(() => undefined);
    expect(ranNext).toBe(false);

    const idle = new AbortController();
    let yielded = 0;
    const empties: Application = () =>
      (async function* () {
        for (;;) {
          if (++yielded === 100) idle.abort(new Error('client left'));
          if (yielded > 100_000) throw new Error('ran on after the client left');
          yield '';
        }
      })();
    await request(cascade([empties, next]), { signal: idle.signal }).catch(() => undefined);
    expect([yielded < 1000, ranNext]).toEqual([true, false]);
  });
});

describe('cascade: the error argument (§13.5)', () => {
  it('passes the error argument of the answering application on unchanged, and its absence', async () => {
    const error = new Error('db down');
    const calls: unknown[][] = [];
    const declining: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['x-cascade', 'pass']]);
      return [];
    };
    const answering: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      startResponse('503 Service Unavailable', [['content-type', 'text/plain']], error);
      return [];
    };
    await cascade([declining, answering])(createEnviron(), (...args) => (calls.push(args), async () => {}));
    expect(calls.map((args) => args.length)).toEqual([2, 3]);
    expect(calls[1]![2]).toBe(error);
  });
});
