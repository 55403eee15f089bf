import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { serve as srvx } from 'srvx';
import { mount, request, type Application, type Environ, type ResponseBody } from '@ngi/core';
import { describe, expect, it } from 'vitest';
import { serve } from '@ngi/node';
import { fromFetch, toFetch } from '../src/index.ts';
import { bytes, deferred, open, readAll, text, tick } from './_helpers.ts';

/** What the application saw of its environ, as JSON. */
const echo: Application = (environ, startResponse) => {
  const headers: Record<string, string> = {};
  for (const key in environ) if (key.startsWith('HTTP_')) headers[key] = environ[key] as string;
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [
    JSON.stringify({
      method: environ.REQUEST_METHOD,
      scriptName: environ.SCRIPT_NAME,
      pathInfo: environ.PATH_INFO,
      rawPath: environ['ngi.raw_path'],
      query: environ.QUERY_STRING,
      server: [environ.SERVER_NAME, environ.SERVER_PORT, environ['ngi.url_scheme'], environ.SERVER_PROTOCOL],
      remote: environ.REMOTE_ADDR ?? null,
      contentType: environ.CONTENT_TYPE ?? null,
      contentLength: environ.CONTENT_LENGTH ?? null,
      headers,
    }),
  ];
};

const quiet = { write() {}, flush() {} };

/** The JSON `echo` answered with. */
const seenBy = (res: Response) => res.json() as Promise<{ remote: string | null; headers: Record<string, string> }>;

/** A body that records `close()` calls and how many chunks it produced. */
function counted(chunks: Iterable<string> | AsyncIterable<string>) {
  const state = { closed: 0, produced: 0 };
  const body = (async function* () {
    for await (const chunk of chunks) {
      state.produced++;
      yield chunk;
    }
  })();
  return { state, body: Object.assign(body, { close: () => void state.closed++ }) as ResponseBody };
}

describe('toFetch: the environ an application gets', () => {
  it('§3 §4.2 §4.7 method, path, raw path, query, server name and port, scheme', async () => {
    const res = await toFetch(echo)(new Request('https://Example.com:8443/a%20b/x%3Fy?q=%E2%9C%93&flag', { method: 'DELETE' }));
    expect(await res.json()).toMatchObject({
      method: 'DELETE',
      scriptName: '',
      pathInfo: '/a b/x?y',
      rawPath: '/a%20b/x%3Fy',
      query: 'q=%E2%9C%93&flag',
      server: ['example.com', '8443', 'https', 'HTTP/1.1'],
    });
  });

  it('§3.9 REMOTE_ADDR is absent where the runtime does not name the peer (a Request alone, Workers bindings)', async () => {
    const res = await toFetch(echo)(new Request('http://localhost/'), { KV: {} }, { waitUntil() {} });
    expect((await seenBy(res)).remote).toBeNull();
  });

  it('§3.9 REMOTE_ADDR and REMOTE_PORT as a runtime reports them: Deno\'s handler info, Bun\'s server', async () => {
    const peer: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.REMOTE_ADDR ?? '-'} ${environ.REMOTE_PORT ?? '-'}`];
    };
    const handler = toFetch(peer);
    const request = new Request('http://localhost/');
    // Deno.serve((request, info) => …): info.remoteAddr is a Deno.NetAddr.
    const deno = { remoteAddr: { transport: 'tcp', hostname: '::1', port: 50123 } };
    // Bun: fetch(request, server), where server.requestIP(request) is a SocketAddress or null.
    const bun = {
      requestIP: function (this: unknown, seen: Request) { return this === bun && seen === request ? { address: '10.0.0.7', family: 'IPv4', port: 4711 } : null; },
      stop() {},
      reload() {},
    };
    const unix = { requestIP: () => null, stop() {}, reload() {} };
    const answers = await Promise.all([deno, bun, unix].map(async (runtime) => (await handler(request, runtime)).text()));
    expect(answers).toEqual(['::1 50123', '10.0.0.7 4711', '- -']);
    // srvx's request.ip alone is not read: its edge adapters take it from a header (cf-connecting-ip, x-real-ip).
    const withIp = Object.defineProperty(new Request('http://localhost/'), 'ip', { value: '192.0.2.1' });
    expect(await (await handler(withIp)).text()).toBe('- -');
  });

  it('§3.9 what only looks like a runtime\'s objects is no peer and fails nothing: Workers bindings of the same names, getters that throw', async () => {
    const peer: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.REMOTE_ADDR ?? '-'} ${environ.REMOTE_PORT ?? '-'}`];
    };
    let called = 0;
    const bindings = [
      { remoteAddr: null },
      { remoteAddr: { hostname: 'kv' } },
      { incoming: null },
      { incoming: { send() {} } },
      // A service binding named requestIP: calling it would be a request to another Worker.
      { requestIP: () => void called++ },
      Object.defineProperty({}, 'remoteAddr', { get() { throw new Error('binding unavailable'); } }),
    ];
    const handler = toFetch(peer);
    const answers = await Promise.all(bindings.map(async (env) => (await handler(new Request('http://localhost/'), env)).text()));
    expect([answers, called]).toEqual([bindings.map(() => '- -'), 0]);
    // A header names no peer: anyone can send one.
    expect(await (await handler(new Request('http://localhost/', { headers: { 'x-forwarded-for': '1.2.3.4', 'cf-connecting-ip': '1.2.3.4' } }))).text()).toBe('- -');
  });

  it('§3.9 the peer option reads it where the runtime keeps it elsewhere, and a malformed answer is a TypeError naming it', async () => {
    const fromHeader = toFetch(echo, { peer: (request) => ({ address: request.headers.get('cf-connecting-ip')! }) });
    const res = await fromHeader(new Request('http://localhost/', { headers: { 'cf-connecting-ip': '203.0.113.9' } }));
    expect((await seenBy(res)).remote).toBe('203.0.113.9');
    const none = toFetch(echo, { peer: () => undefined });
    expect((await seenBy(await none(new Request('http://localhost/'), { remoteAddr: { hostname: '::1', port: 1 } }))).remote).toBeNull();
    for (const address of ['', 'unknown', '[::1]', '1.2.3.4, 5.6.7.8']) {
      await expect(toFetch(echo, { peer: () => ({ address }) })(new Request('http://localhost/')), address).rejects.toThrow(/options\.peer must return \{ address, port\? \} with an IP address/);
    }
    const v6 = toFetch(echo, { peer: () => ({ address: 'fe80::1%eth0' }) });
    expect((await seenBy(await v6(new Request('http://localhost/')))).remote).toBe('fe80::1%eth0');
    await expect(toFetch(echo, { peer: () => ({ address: '::1', port: 70000 }) })(new Request('http://localhost/'))).rejects.toThrow(/port 70000/);
    expect(() => toFetch(echo, { peer: 'x' as never })).toThrow(/options\.peer must be a function/);
  });

  it('§3.2 scriptName moves a prefix into SCRIPT_NAME; outside it the answer is 404 with x-cascade: pass (§14.1)', async () => {
    const handler = toFetch(echo, { scriptName: '/api' });
    expect(await (await handler(new Request('http://h/api/users?x'))).json()).toMatchObject({ scriptName: '/api', pathInfo: '/users', rawPath: '/api/users' });
    expect(await (await handler(new Request('http://h/api'))).json()).toMatchObject({ scriptName: '/api', pathInfo: '' });
    const outside = await handler(new Request('http://h/apix'));
    expect([outside.status, outside.headers.get('x-cascade')]).toEqual([404, 'pass']);
    expect(() => toFetch(echo, { scriptName: '/api/' })).toThrow(TypeError);
  });

  it('§3.3 a malformed path is answered 400 without calling the application', async () => {
    let called = false;
    const res = await toFetch(() => ((called = true), []))(new Request('http://h/bad%zz'));
    expect([res.status, called]).toEqual([400, false]);
  });

  it('§5.1 a header value with a control character, which Headers lets through, is answered 400 without calling the application', async () => {
    let called = false;
    const res = await toFetch(() => ((called = true), []))(new Request('http://h/', { headers: { 'x-a': 'a\x01b' } }));
    expect([res.status, await res.text(), called]).toEqual([400, 'Bad request: the value of header x-a has a control character', false]);
  });

  it('§5.1 §5.2 §5.4 headers become HTTP_* keys, CONTENT_TYPE and CONTENT_LENGTH; "_" names are dropped; Host comes from the URL', async () => {
    const headers = new Headers([['x-a', '1'], ['x_spoof', 'no'], ['content-type', 'text/plain'], ['content-length', '2'], ['cookie', 'c=1']]);
    const res = await toFetch(echo)(new Request('http://example.com:8080/', { method: 'POST', headers, body: 'hi' }));
    const seen = await seenBy(res);
    expect(seen).toMatchObject({ contentType: 'text/plain', contentLength: '2', headers: { HTTP_X_A: '1', HTTP_COOKIE: 'c=1', HTTP_HOST: 'example.com:8080' } });
    expect(Object.keys(seen.headers)).not.toContain('HTTP_X_SPOOF');
    expect(Object.keys(seen.headers)).not.toContain('HTTP_CONTENT_TYPE');
  });

  it('§4.3 a body of unknown length arrives as chunked, so body parsers see it; a known length or no body adds nothing', async () => {
    const seen = async (init: RequestInit) => {
      let keys: (string | undefined)[] = [];
      await toFetch((environ, startResponse) => {
        keys = [environ.CONTENT_LENGTH, environ.HTTP_TRANSFER_ENCODING];
        startResponse('204 No Content', []);
        return [];
      })(new Request('http://h/', init));
      return keys;
    };
    // A Request made in-process (Hono's app.request(), a test) names no length; body-parser's
    // type-is hasBody() then takes it for bodiless and leaves req.body unset.
    expect(await seen({ method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })).toEqual([undefined, 'chunked']);
    expect(await seen({ method: 'POST', body: 'hi', headers: { 'content-length': '2' } })).toEqual(['2', undefined]);
    expect(await seen({ method: 'POST' })).toEqual([undefined, undefined]);
    expect(await seen({})).toEqual([undefined, undefined]);
  });

  it('§4.3 ngi.input begun after the response is over throws a TypeError, as on every NGI server', async () => {
    let late!: (outcome: string) => void;
    const outcome = new Promise<string>((resolve) => (late = resolve));
    const res = await toFetch((environ, startResponse) => {
      startResponse('202 Accepted', [['content-type', 'text/plain']]);
      const readLate = async (): Promise<void> => {
        try {
          let read = 0;
          for await (const chunk of environ['ngi.input']) read += chunk.byteLength;
          late(`read ${read} bytes`);
        } catch (error) {
          late(String(error));
        }
      };
      return Object.assign(['later'], { close: () => void setTimeout(() => void readLate()) });
    })(new Request('http://h/', { method: 'POST', body: 'abcdefgh' }));
    expect(await res.text()).toBe('later');
    expect(await outcome).toBe('TypeError: §4.3: ngi.input read after the response was over; read the body before answering');
  });

  it('§15.1 the Request and the env argument are in environ as fetch.request and fetch.env', async () => {
    let seen: unknown[] = [];
    const request = new Request('http://h/');
    await toFetch((environ: Environ, startResponse) => {
      seen = [environ['fetch.request'], environ['fetch.env']];
      startResponse('204 No Content', []);
      return [];
    })(request, { KV: 'binding' });
    expect(seen).toEqual([request, { KV: 'binding' }]);
  });

  it('§4.3 ngi.input streams the request body: the application reads a chunk before the body ends', async () => {
    const firstChunk = deferred<string>();
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) });
    const app: Application = async (environ, startResponse) => {
      const iterator = environ['ngi.input'][Symbol.asyncIterator]();
      firstChunk.resolve(text((await iterator.next()).value));
      let rest = '';
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) rest += text(step.value);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`rest:${rest}`];
    };
    const response = toFetch(app)(new Request('http://h/', { method: 'POST', body, duplex: 'half' } as RequestInit));
    feed.enqueue(bytes('one'));
    expect(await firstChunk.promise).toBe('one');
    feed.enqueue(bytes('two'));
    feed.close();
    expect(await (await response).text()).toBe('rest:two');
  });

  it('§4.3 a request body someone already read fails ngi.input loudly instead of looking empty', async () => {
    const request = new Request('http://h/', { method: 'POST', body: 'gone' });
    await request.text();
    const res = await toFetch(async (environ, startResponse) => {
      for await (const _ of environ['ngi.input']) void _;
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read'];
    }, { errors: quiet })(request);
    expect(res.status).toBe(500);
  });
  it('§12.1 §4.3 ngi.input throws when request.signal aborts, even if the request body stream just stalls', async () => {
    const client = new AbortController();
    const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(bytes('one')) });
    const failed = deferred<unknown>();
    const res = await toFetch(async (environ, startResponse) => {
      try {
        for await (const _ of environ['ngi.input']) client.abort();
      } catch (error) {
        failed.resolve(error);
        throw error;
      }
      failed.resolve('ended normally');
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read'];
    }, { errors: quiet })(new Request('http://h/', { method: 'POST', body, duplex: 'half', signal: client.signal } as RequestInit));
    expect(await failed.promise).toBeInstanceOf(Error);
    expect(res.status).toBe(500);
  });

  it('§12.1 §4.3 a cancelled response body makes an unfinished ngi.input iteration throw', async () => {
    const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(bytes('one')) });
    const failed = deferred<unknown>();
    const res = await toFetch((environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      return (async function* () {
        try {
          for await (const chunk of environ['ngi.input']) yield chunk;
          failed.resolve('ended normally');
        } catch (error) {
          failed.resolve(error);
        }
      })();
    })(new Request('http://h/', { method: 'POST', body, duplex: 'half' } as RequestInit));
    const reader = res.body!.getReader();
    expect(text((await reader.read()).value)).toBe('one');
    // Asking for more lets the application go back to ngi.input, where it waits for the upload.
    void reader.read().catch(() => {});
    await tick();
    await reader.cancel('client gone');
    expect(await failed.promise).toBeInstanceOf(Error);
  });
});

describe('toFetch: the Response it returns', () => {
  it('§6.1 §6.3 status, reason phrase and every header, each set-cookie on its own', async () => {
    const res = await toFetch((_environ, startResponse) => {
      startResponse('202 Custom Reason', [['content-type', 'text/plain'], ['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2'], ['x-multi', 'one'], ['x-multi', 'two']]);
      return ['ok'];
    })(new Request('http://h/'));
    expect([res.status, res.statusText, res.headers.get('x-multi'), res.headers.getSetCookie(), await res.text()]).toEqual([202, 'Custom Reason', 'one, two', ['a=1; Path=/', 'b=2'], 'ok']);
  });

  it('§9.3 the Response resolves at the head and its body flows before the application finishes', async () => {
    const gate = deferred();
    const res = await toFetch((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'first;';
        await gate.promise;
        yield 'second';
      })();
    })(new Request('http://h/'));
    const reader = res.body!.getReader();
    expect(text((await reader.read()).value)).toBe('first;');
    gate.resolve();
    expect(text((await reader.read()).value)).toBe('second');
    expect((await reader.read()).done).toBe(true);
  });

  it('§7.1 backpressure: the application produces only as fast as the body is read', async () => {
    const { state, body } = counted((async function* () {
      for (let i = 0; ; i++) {
        yield `chunk ${i};`;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })());
    const res = await toFetch((_environ, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), body))(new Request('http://h/'));
    const reader = res.body!.getReader();
    for (let i = 0; i < 3; i++) await reader.read();
    await tick(20);
    expect(state.produced).toBeLessThanOrEqual(5);
    await reader.cancel();
  });

  it('§7.1 writes made without awaiting each other wait together: one abort listener, not one per write', async () => {
    let listeners = -1;
    const res = await toFetch(async (environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      const writes = Array.from({ length: 20 }, () => write(new Uint8Array(1024)));
      // Node warns past ten listeners on one signal.
      listeners = getEventListeners(environ['ngi.signal'], 'abort').length;
      await Promise.all(writes);
      return [];
    })(new Request('http://h/'));
    expect((await res.arrayBuffer()).byteLength).toBe(20 * 1024);
    expect(listeners).toBeLessThanOrEqual(2);
  });

  it('§9.4 close() runs once when the body has been read to its end', async () => {
    const { state, body } = counted(['a', 'b']);
    const res = await toFetch((_environ, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), body))(new Request('http://h/'));
    expect(await res.text()).toBe('ab');
    await tick();
    expect(state.closed).toBe(1);
  });

  it('§12.1 §9.4 a cancelled body aborts ngi.signal with an Error and calls close() once', async () => {
    let signal: AbortSignal | undefined;
    const { state, body } = counted((async function* () {
      for (;;) {
        yield 'tick;';
        await tick(1);
      }
    })());
    const res = await toFetch((environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return body;
    })(new Request('http://h/'));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel('client gone');
    await tick(10);
    expect([signal!.aborted, signal!.reason instanceof Error, state.closed]).toEqual([true, true, 1]);
  });

  it('§12.1 an aborted request.signal aborts ngi.signal and ends the response', async () => {
    const client = new AbortController();
    let signal: AbortSignal | undefined;
    const { state, body } = counted((async function* () {
      yield 'first;';
      await new Promise(() => {});
    })());
    const res = await toFetch((environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return body;
    })(new Request('http://h/', { signal: client.signal }));
    const reader = res.body!.getReader();
    await reader.read();
    client.abort();
    await expect(reader.read()).rejects.toBeDefined();
    expect([signal!.aborted, state.closed]).toEqual([true, 1]);
  });

  it('§12.2 ngi.signal stays quiet after a complete response, even if request.signal aborts later', async () => {
    const client = new AbortController();
    let signal: AbortSignal | undefined;
    const res = await toFetch((environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['done'];
    })(new Request('http://h/', { signal: client.signal }));
    expect(await res.text()).toBe('done');
    client.abort();
    expect(signal!.aborted).toBe(false);
  });

  it('§10.3 HEAD, 204 and 304 get a null body, and close() still runs', async () => {
    for (const [method, status] of [['HEAD', '200 OK'], ['GET', '204 No Content'], ['GET', '304 Not Modified']] as const) {
      const { state, body } = counted(['ignored']);
      const res = await toFetch((_environ, startResponse) => (startResponse(status, [['x-status', status]]), body))(new Request('http://h/', { method }));
      await tick();
      expect([res.body, res.headers.get('x-status'), state.closed]).toEqual([null, status, 1]);
    }
  });

  it('§11.1 an error before the head is a 500 Response; the details go to ngi.errors', async () => {
    const errors: string[] = [];
    const res = await toFetch(() => {
      throw new Error('secret detail');
    }, { errors: { write: (m) => void errors.push(m), flush() {} } })(new Request('http://h/'));
    const body = await res.text();
    expect([res.status, body.includes('secret')]).toEqual([500, false]);
    expect(errors.join('')).toMatch(/secret detail/);
  });

  it('§11.2 an error after the head errors the body stream with that very error, so the response is never complete', async () => {
    const failure = new RangeError('failed midway');
    const res = await toFetch((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'partial';
        throw failure;
      })();
    }, { errors: quiet })(new Request('http://h/'));
    const reader = res.body!.getReader();
    expect(text((await reader.read()).value)).toBe('partial');
    // A reader of the body (Hono middleware, a runtime) gets the application's error, not a copy.
    await expect(reader.read()).rejects.toBe(failure);
  });

  it('§6.1 a status a Response cannot carry (600) is a 500, logged as an error before the head', async () => {
    const logged: string[] = [];
    const errors = { write: (message: string) => void logged.push(message), flush() {} };
    const res = await toFetch((_environ, startResponse) => (startResponse('600 Beyond', []), []), { errors })(new Request('http://h/'));
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('Internal Server Error');
    expect(logged.join('')).toMatch(/^§11\.1: error before the response head was sent; answered 500: TypeError: toFetch: a fetch Response cannot have status/);
  });

  it('rejects what is not an application with a TypeError naming it: an Express app, a class', () => {
    expect(() => toFetch('app' as never)).toThrow(TypeError);
    const expressLike = Object.assign(() => {}, { handle() {}, set() {}, use() {} });
    expect(() => toFetch(expressLike as never)).toThrow('toFetch: expected an NGI application (environ, startResponse) => body, got an Express app: wrap it, fromExpress(app) from @ngi/express');
    expect(() => toFetch(class {} as never)).toThrow(/got a class/);
  });

  it('§4.4 rejects an options.errors that is not an error stream, whose reports would vanish', () => {
    expect(() => toFetch(echo, { errors: console as never })).toThrow(/toFetch: options.errors must be an error stream/);
    expect(() => toFetch(echo, { errors: quiet })).not.toThrow();
  });

  it('refuses a misspelt option, which would leave its default in place', () => {
    expect(() => toFetch(echo, { script_name: '/api' } as never)).toThrow('toFetch: unknown option "script_name" (did you mean "scriptName"?)');
    expect(() => toFetch(echo, { scriptName: 5 } as never)).toThrow('toFetch: options.scriptName must be a string, got number');
    expect(() => toFetch(echo, { peer: { address: '::1' } } as never)).toThrow('toFetch: options.peer must be a function (request, env, context)');
    expect(() => fromFetch(() => new Response(), { envs: () => ({}) } as never)).toThrow('fromFetch: unknown option "envs" (did you mean "env"?)');
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Serves `app` through `toFetch` on two fetch servers that are not NGI: mounted at `/legacy` in
 * Hono on @hono/node-server (Hono strips the prefix), and on srvx at the root. `check` gets each base URL.
 */
async function onRealServers(app: Application, check: (base: string) => Promise<void>): Promise<void> {
  const hono = new Hono().mount('/legacy', toFetch(app));
  const server = createServer(getRequestListener(hono.fetch, { overrideGlobalObjects: false }));
  const onSrvx = srvx({ fetch: toFetch(app), port: 0, hostname: '127.0.0.1', silent: true, manual: true });
  try {
    const url = await listen(server);
    await onSrvx.serve();
    await onSrvx.ready();
    for (const base of [url, onSrvx.url!.replace(/\/$/, '')]) await check(base);
  } finally {
    server.close();
    await onSrvx.close(true);
  }
}

describe('toFetch on a fetch server that is not NGI (@hono/node-server, globals left alone)', () => {
  it('§9.3 streams: the first chunk reaches the client before the application finishes', async () => {
    const gate = deferred();
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'first;';
        await gate.promise;
        yield 'second';
      })();
    };
    const server = createServer(getRequestListener(toFetch(app), { overrideGlobalObjects: false }));
    const url = await listen(server);
    try {
      const { req, response } = open(url, { path: '/x' });
      req.end();
      const res = await response;
      const first = await new Promise<string>((resolve) => res.once('data', (chunk) => resolve(String(chunk))));
      expect(first).toBe('first;');
      gate.resolve();
      expect(await readAll(res)).toBe('second');
    } finally {
      server.close();
    }
  });

  it('§3.9 REMOTE_ADDR and REMOTE_PORT on real servers: under Hono on @hono/node-server (env.incoming), and on srvx (request.runtime)', async () => {
    const peer: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.REMOTE_ADDR ?? '-'} ${environ.REMOTE_PORT ?? '-'}`];
    };
    await onRealServers(peer, async (base) => {
      const { req, response } = open(base, { path: '/legacy/x' });
      req.end();
      const res = await response;
      // The client's own end of the connection: its address and port.
      expect(await readAll(res)).toBe(`127.0.0.1 ${res.socket.localPort}`);
    });
  });

  it('§5.1 on real servers, a request sent without a body has neither Content-Length nor Transfer-Encoding, though the runtime gives it a body stream', async () => {
    const framing: Application = async (environ, startResponse) => {
      let read = 0;
      for await (const chunk of environ['ngi.input']) read += chunk.byteLength;
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.CONTENT_LENGTH ?? '-'} ${environ.HTTP_TRANSFER_ENCODING ?? '-'} ${read}`];
    };
    await onRealServers(framing, async (base) => {
      const answers = [];
      // Node's client frames neither a DELETE nor an OPTIONS without a body (a POST gets Content-Length: 0).
      for (const [method, body, headers] of [['DELETE', undefined, {}], ['OPTIONS', undefined, {}], ['POST', 'abc', {}], ['POST', 'abc', { 'content-length': '3' }]] as const) {
        const { req, response } = open(base, { path: '/legacy/x', method, headers });
        // Written before the end, a body of unknown length goes chunked.
        if (body !== undefined) req.write(body);
        req.end();
        answers.push(await readAll(await response));
      }
      expect(answers).toEqual(['- - 0', '- - 0', '- chunked 3', '3 - 3']);
    });
  });

  it('§3.2 §4.7 under Hono\'s mount in a Hono app NGI serves, SCRIPT_NAME keeps the outer mount point and Hono\'s, and ngi.raw_path the whole path', async () => {
    const paths: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/json']]);
      return [JSON.stringify([environ.SCRIPT_NAME, environ.PATH_INFO, environ['ngi.raw_path'], environ.QUERY_STRING])];
    };
    const hono = new Hono().mount('/legacy', toFetch(paths));
    const app = mount({ '/outer': fromFetch(hono) });
    const seen = [];
    for (const url of ['/outer/legacy/x%20y/%C3%A9?q=1', '/outer/legacy', '/outer/legacy/', '/outer/legacy/caf%c3%a9/%41']) seen.push(JSON.parse((await request(app, { url })).text()));
    expect(seen).toEqual([
      ['/outer/legacy', '/x y/é', '/outer/legacy/x%20y/%C3%A9', 'q=1'],
      ['/outer/legacy', '', '/outer/legacy', ''],
      ['/outer/legacy', '/', '/outer/legacy/', ''],
      // Hono's mount decodes the path and sets it again: the escapes come back spelled otherwise.
      ['/outer/legacy', '/café/A', '/outer/legacy/caf%C3%A9/A', ''],
    ]);
    // A Request a route makes of its own, with the env passed on, is not taken for a mount's.
    const own = new Hono().get('/status', (c) => toFetch(paths)(new Request('http://internal.example/'), c.env));
    expect(JSON.parse((await request(mount({ '/outer': fromFetch(own) }), { url: '/outer/status' })).text())).toEqual(['', '/', '/', '']);
  });

  it('§3.9 REMOTE_ADDR and REMOTE_PORT under Hono\'s mount when NGI serves Hono (the environ is env; the Request is Hono\'s own)', async () => {
    const peer: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.REMOTE_ADDR ?? '-'} ${environ.REMOTE_PORT ?? '-'}`];
    };
    const hono = new Hono().mount('/legacy', toFetch(peer));
    const server = await serve(fromFetch(hono.fetch), { host: '127.0.0.1', port: 0 });
    try {
      const { req, response } = open(`http://127.0.0.1:${server.address.port}`, { path: '/legacy/x' });
      req.end();
      const res = await response;
      expect(await readAll(res)).toBe(`127.0.0.1 ${res.socket.localPort}`);
    } finally {
      await server.close();
    }
  });
});
