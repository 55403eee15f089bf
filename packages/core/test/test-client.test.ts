import { getEventListeners } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { request, stream, validator, type Application, type HeaderList, type ResponseBody } from '../src/index.ts';

/** Settles with `promise`, or with 'hung' when it has not settled within a second. */
function bounded<T>(promise: Promise<T>): Promise<T | 'hung'> {
  return Promise.race([promise, new Promise<'hung'>((resolve) => setTimeout(resolve, 1000, 'hung').unref())]);
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const json: Application = (environ, startResponse) => {
  startResponse('201 Created', [['content-type', 'application/json'], ['X-Trace', 'abc']]);
  return [JSON.stringify({ method: environ.REQUEST_METHOD, path: environ.PATH_INFO, query: environ.QUERY_STRING })];
};

describe('the test client', () => {
  it('returns status, headers, text and json', async () => {
    const res = await request(json, { method: 'PUT', url: '/items/1?x=y' });
    expect([res.status, res.statusText]).toEqual([201, 'Created']);
    expect(res.header('x-trace')).toBe('abc');
    expect(res.json()).toEqual({ method: 'PUT', path: '/items/1', query: 'x=y' });
  });

  it('runs the validator by default', async () => {
    const bad: Application = (_e, startResponse) => (startResponse('200 OK', [['Connection', 'close']]), []);
    const res = await request(bad);
    expect(res.status).toBe(500);
    expect(res.errors.join('\n')).toContain('§6.3');
  });

  it('streams chunks as the app produces them, and breaking out aborts ngi.signal', async () => {
    let signal!: AbortSignal;
    let produced = 0;
    const app: Application = async function* (environ, startResponse) {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      for (;;) {
        produced++;
        yield `tick ${produced}`;
      }
    };
    const res = await stream(app);
    const seen: string[] = [];
    for await (const chunk of res.body) {
      seen.push(new TextDecoder().decode(chunk));
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['tick 1', 'tick 2', 'tick 3']);
    expect(produced).toBeLessThanOrEqual(4);
    expect(signal.aborted).toBe(true);
  });

  it('rejects when the response is abandoned after the head (§11.2)', async () => {
    const app: Application = async function* (_e, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'partial';
      throw new Error('broken');
    };
    await expect(request(app)).rejects.toThrow('The response was abandoned: broken');
  });

  it.each<[string, () => ResponseBody, HeaderList]>([
    [
      'an error after the head (§11.2)',
      async function* () {
        yield 'a';
        throw new Error('broken');
      },
      [],
    ],
    ['a body short of its Content-Length (§10.1)', () => ['ab'], [['content-length', '5']]],
  ])('§4.6 aborts ngi.signal with an Error when it drops the response for %s, as a server does', async (_what, chunks, length) => {
    let seen: [boolean, unknown] | undefined;
    const app: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ...length]);
      const signal = environ['ngi.signal'];
      return Object.assign(chunks(), { close: () => void (seen = [signal.aborted, signal.reason]) });
    };
    await expect(request(app)).rejects.toThrow('The response was abandoned');
    expect(seen).toEqual([true, expect.any(Error)]);
  });

  it('§4.3 §12.1 reading ngi.input throws when the client goes away mid-body, and the body given is stopped', async () => {
    let release!: () => void;
    let stopped = false;
    const body = (async function* () {
      try {
        yield 'first';
        await new Promise<void>((resolve) => (release = resolve));
        yield 'never read';
      } finally {
        stopped = true;
      }
    })();
    let thrown: unknown;
    const app: Application = async (environ, startResponse) => {
      try {
        for await (const _ of environ['ngi.input']) void _;
      } catch (error) {
        thrown = error;
        throw error;
      }
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read'];
    };
    const client = new AbortController();
    const reason = new Error('client left');
    setTimeout(() => client.abort(reason), 50);
    const result = await bounded(request(app, { method: 'POST', body, signal: client.signal }).catch((error: unknown) => error));
    expect(result).toEqual(new Error('The response was abandoned: client left'));
    expect(thrown).toBe(reason);
    release();
    await settle();
    expect(stopped).toBe(true);
  });

  it('§9.2 a validator failure after the head names its rule in the rejection, not only in its cause', async () => {
    const app = validator((_e, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), ['ok', 42 as unknown as string]));
    await expect(request(app)).rejects.toThrow(/^The response was abandoned: .*§9\.2/);
  });

  it('§7.1 settles writes that wait side by side', async () => {
    const app: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      await Promise.all([write('a'), write('b')]);
      return ['c'];
    };
    const res = await bounded(request(app));
    expect(res === 'hung' ? res : res.text()).toBe('abc');
  });

  it('keeps what was written when the app reuses its Buffer after the write resolves', async () => {
    const app: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      const buffer = Buffer.from('aa');
      await write(buffer);
      buffer.write('bb');
      await write(buffer);
      return [];
    };
    expect((await request(app)).text()).toBe('aabb');
  });

  it('§7.1 resolves each waiting write when its own chunk is taken', async () => {
    const resolved: string[] = [];
    const app: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      await Promise.all(['a', 'b'].map((chunk) => write(chunk).then(() => resolved.push(chunk))));
      return [];
    };
    const body = (await stream(app)).body[Symbol.asyncIterator]();
    expect(new TextDecoder().decode((await body.next()).value)).toBe('a');
    await settle();
    expect(resolved).toEqual([]);
    expect(new TextDecoder().decode((await body.next()).value)).toBe('b');
    await settle();
    expect(resolved).toEqual(['a']);
    expect((await body.next()).done).toBe(true);
    expect(resolved).toEqual(['a', 'b']);
  });

  it('§4.3 an iteration of ngi.input begun after the response is complete throws, as from a server', async () => {
    let late: Promise<string> | undefined;
    const app: Application = (environ, startResponse) => {
      startResponse('202 Accepted', [['content-type', 'text/plain']]);
      late = new Promise((resolve) => setTimeout(resolve, 5)).then(async () => {
        for await (const _ of environ['ngi.input']);
        return 'read';
      }).catch((error: Error) => error.message);
      return ['queued'];
    };
    expect((await request(app, { method: 'POST', body: 'hello' })).status).toBe(202);
    expect(await late).toBe('§4.3: ngi.input read after the response was over; read the body before answering');
  });

  it('gives the headers as a list of its own: changing it changes nothing of the application', async () => {
    const HEADERS: HeaderList = [['content-type', 'text/plain']];
    const app: Application = (_e, startResponse) => (startResponse('200 OK', HEADERS), ['x']);
    const res = await request(app);
    res.headers.push(['x-added', 'y']);
    res.headers[0]![1] = 'text/html';
    expect(HEADERS).toEqual([['content-type', 'text/plain']]);
  });

  it('§3.3 answers 400 itself for a path it cannot decode, without calling the app', async () => {
    let called = false;
    const app: Application = (...args) => ((called = true), json(...args));
    const res = await request(app, { url: '/%E0' });
    expect([res.status, res.statusText, res.header('content-type')]).toEqual([400, 'Bad Request', 'text/plain; charset=utf-8']);
    expect(res.text()).toContain('Malformed percent-encoding');
    const head = await request(app, { method: 'HEAD', url: '/%E0' });
    expect([head.status, head.header('content-length'), head.body.byteLength]).toEqual([400, res.header('content-length'), 0]);
    expect(called).toBe(false);
  });

  it.each([
    ['no application', () => stream(undefined as unknown as Application), '§1.1'],
    ['a scriptName against §3.2', () => stream(json, { scriptName: 'app' }), '§3.2'],
  ])('stream rejects %s through the returned promise, not by throwing', async (_what, call, rule) => {
    let result: Promise<unknown> | undefined;
    expect(() => (result = call())).not.toThrow();
    await expect(result).rejects.toThrow(rule);
  });

  describe("the caller's signal", () => {
    let signal: AbortSignal | undefined;
    const app: Application = (environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['done'];
    };
    beforeEach(() => (signal = undefined));

    it('§12.1 aborts ngi.signal at once when already aborted', async () => {
      await request(app, { signal: AbortSignal.abort() }).catch(() => {});
      expect(signal?.aborted).toBe(true);
    });

    it('§4.6 aborts ngi.signal with an Error when the caller aborts with something else', async () => {
      await request(app, { signal: AbortSignal.abort('stop') }).catch(() => {});
      expect(signal?.reason).toBeInstanceOf(Error);
      expect([(signal?.reason as Error).message, (signal?.reason as Error).cause]).toEqual(['The client disconnected: stop', 'stop']);
    });

    it('§12.2 no longer aborts ngi.signal once the response is complete', async () => {
      const controller = new AbortController();
      const res = await request(app, { signal: controller.signal });
      controller.abort();
      expect([res.text(), signal?.aborted]).toEqual(['done', false]);
    });

    it('is let go of when the exchange ends, so one signal can serve many requests', async () => {
      const controller = new AbortController();
      for (let i = 0; i < 3; i++) await request(app, { signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort')).toEqual([]);
    });
  });
});

describe('the test client: the method', () => {
  it('upper-cases the six methods fetch() upper-cases, whatever their case, and keeps others as given', async () => {
    const app: Application = (environ, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), [environ.REQUEST_METHOD]);
    const seen = [];
    for (const method of ['post', 'Delete', 'options', 'patch', 'PROPFIND']) seen.push((await request(app, { method })).text());
    expect(seen).toEqual(['POST', 'DELETE', 'OPTIONS', 'patch', 'PROPFIND']);
    // A HEAD answer has no body, whatever case HEAD is written in.
    expect((await request(app, { method: 'head' })).body.byteLength).toBe(0);
  });
});
