import { connect } from 'node:net';
import { mount, request, stream, type Environ } from '@ngi/core';
import { tooLargeBody } from '../../../test/fixtures/too-large.ts';
import { serve } from '@ngi/node';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { baseUrlSymbol, environSymbol, fromFetch, type FetchExecutionContext } from '../src/index.ts';
import { bytes, deferred, gatedStream, open, readAll, text, tick } from './_helpers.ts';

const NativeRequest = globalThis.Request;
const NativeResponse = globalThis.Response;

/** Runs one request through `fromFetch` and returns what the handler computed from its Request. */
async function seen<T>(init: Parameters<typeof request>[1], inspect: (request: Request) => T | Promise<T>): Promise<T> {
  let view: T | undefined;
  const res = await request(
    fromFetch(async (req) => {
      view = await inspect(req);
      return new Response('ok');
    }),
    init,
  );
  expect([res.status, res.errors]).toEqual([200, []]);
  return view!;
}

describe('fromFetch: the Request a handler gets', () => {
  it('§3.3 §3.5 §4.7 request.url keeps the raw path and query', async () => {
    const url = await seen({ url: '/a%20b/x%2Fy?q=%E2%9C%93&flag&plus=a+b' }, (req) => req.url);
    expect(url).toBe('http://localhost/a%20b/x%2Fy?q=%E2%9C%93&flag&plus=a+b');
  });

  it('§3.2 §14.2 request.url is relative to the mount; the raw prefix is request[baseUrlSymbol]', async () => {
    const views: unknown[] = [];
    const app = mount({
      '/api': fromFetch((req) => {
        const r = req as Request & { [baseUrlSymbol]: string; [environSymbol]: Environ };
        views.push([r.url, r[baseUrlSymbol], r[environSymbol].SCRIPT_NAME]);
        return new Response('ok');
      }),
    });
    await request(app, { url: '/%61pi/users/x%2Fy?z' });
    await request(app, { url: '/api' });
    expect(views).toEqual([
      ['http://localhost/users/x%2Fy?z', '/%61pi', '/api'],
      ['http://localhost/', '/api', '/api'],
    ]);
  });

  it('unusual targets and hosts come out as a native Request would have them', async () => {
    for (const [url, host] of [['/a/../b/./c', 'localhost'], ['/x?q="<>', 'Example.COM:8080'], ['/%7Euser', '[::1]:3000']] as const) {
      const got = await seen({ url, headers: { host } }, (req) => req.url);
      expect(got).toBe(new NativeRequest(`http://${host}${url}`).url);
    }
    const res = await request(fromFetch(() => new Response('never')), { url: '/', headers: { host: 'bad host' } });
    expect(res.status).toBe(400);
  });

  it('§3.4 §14.2 a backslash in the path reaches the handler encoded: it gets past no mount entry as a "/"', async () => {
    const guard = (_environ: Environ, startResponse: (status: string, headers: [string, string][]) => unknown) => {
      startResponse('403 Forbidden', [['content-type', 'text/plain'], ['content-length', '7']]);
      return ['guarded'];
    };
    const hono = new Hono().get('/admin/secret', (c) => c.text('SECRET')).all('*', (c) => c.text(`handler saw ${new URL(c.req.url).pathname}`));
    const server = await serve(mount({ '/admin': guard, '/': fromFetch(hono.fetch) }), { port: 0 });
    try {
      const answers: string[] = [];
      for (const path of ['/admin\\secret', '/x\\..\\admin/secret', '/admin/secret']) {
        // Raw bytes: an HTTP client would turn the backslash into a slash itself.
        const answer = await new Promise<string>((resolve, reject) => {
          const socket = connect(server.address.port, '127.0.0.1', () => socket.end(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`));
          let data = '';
          socket.on('data', (chunk) => (data += chunk));
          socket.on('close', () => resolve(data.slice(data.indexOf('\r\n\r\n') + 4)));
          socket.on('error', reject);
        });
        answers.push(answer);
      }
      expect(answers).toEqual(['handler saw /admin%5Csecret', 'handler saw /x%5C..%5Cadmin/secret', 'guarded']);
    } finally {
      await server.close();
    }
  });

  it('§3.7 over a socket, a Host with a punycode label that does not decode is a 400 before the handler runs', async () => {
    const urls: string[] = [];
    const server = await serve(
      fromFetch((req) => {
        // As a router does: a URL the handler is given must parse.
        urls.push(new URL(req.url).href);
        return new Response('ok');
      }),
      { port: 0, errors: { write() {}, flush() {} } },
    );
    try {
      const statuses: number[] = [];
      for (const host of ['xn--a', 'XN--A', 'www.xn--a.example:8080', 'xn--nxasmq6b.example', 'Xn--Ls8h.la']) {
        const { req, response } = open(server.url, { headers: { host } });
        req.end();
        const res = await response;
        await readAll(res);
        statuses.push(res.statusCode!);
      }
      expect(statuses).toEqual([400, 400, 400, 200, 200]);
      expect(urls).toEqual([new NativeRequest('http://xn--nxasmq6b.example/').url, new NativeRequest('http://Xn--Ls8h.la/').url]);
    } finally {
      await server.close();
    }
  });

  it('§3.1 request.method: the six standard methods are upper-cased as fetch does, others kept', async () => {
    expect(await seen({ method: 'get' }, (req) => req.method)).toBe('GET');
    expect(await seen({ method: 'post', body: 'x' }, (req) => req.method)).toBe('POST');
    expect(await seen({ method: 'patch', body: 'x' }, (req) => req.method)).toBe('patch');
    expect(await seen({ method: 'PROPFIND' }, (req) => req.method)).toBe('PROPFIND');
  });

  it('§5.3 request.headers: repeats as the server joined them, cookies with "; ", "_" names dropped', async () => {
    const headers: [string, string][] = [['x-dup', 'a'], ['x-dup', 'b'], ['cookie', 'c=1'], ['cookie', 'd=2'], ['x_spoof', 'no'], ['content-type', 'text/plain']];
    const got = await seen({ headers, method: 'POST', body: 'hi' }, (req) => Object.fromEntries(req.headers));
    expect(got).toEqual({ 'x-dup': 'a, b', cookie: 'c=1; d=2', 'content-type': 'text/plain', 'content-length': '2', host: 'localhost' });
  });

  it('is an instanceof Request while the global Request and Response stay untouched', async () => {
    const got = await seen({}, (req) => [req instanceof Request, Object.prototype.toString.call(req)]);
    expect(got).toEqual([true, '[object Request]']);
    expect([globalThis.Request, globalThis.Response]).toEqual([NativeRequest, NativeResponse]);
  });

  it('§4.3 text(), json() and arrayBuffer() read the body; a second read is rejected', async () => {
    const got = await seen({ method: 'POST', body: '{"a":[1,"✓"]}' }, async (req) => {
      const before = req.bodyUsed;
      const json = await req.json();
      const again = await req.text().catch((error: Error) => error.message);
      return { before, json, after: req.bodyUsed, again };
    });
    expect(got).toEqual({ before: false, json: { a: [1, '✓'] }, after: true, again: expect.stringMatching(/Body is unusable/) });
    const buffer = await seen({ method: 'PUT', body: new Uint8Array([0, 255, 7]) }, (req) => req.arrayBuffer());
    expect([...new Uint8Array(buffer)]).toEqual([0, 255, 7]);
  });

  it('GET and HEAD have a null body, other methods a stream even when empty', async () => {
    expect(await seen({}, async (req) => [req.body, await req.text()])).toEqual([null, '']);
    expect(await seen({ method: 'DELETE' }, async (req) => [req.body instanceof ReadableStream, await req.text()])).toEqual([true, '']);
  });

  it('clone(), formData() and the rest of the Request interface work through a native Request', async () => {
    const got = await seen(
      { method: 'POST', body: 'a=1&b=%E2%9C%93', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      async (req) => {
        const copy = req.clone();
        const form = await req.formData();
        return { a: form.get('a'), b: form.get('b'), copy: await copy.text(), mode: req.mode, redirect: req.redirect };
      },
    );
    expect(got).toEqual({ a: '1', b: '✓', copy: 'a=1&b=%E2%9C%93', mode: 'cors', redirect: 'follow' });
  });

  it('new Request(url, request) copies method, headers and body, as frameworks that rewrite the URL do', async () => {
    const got = await seen({ method: 'PUT', url: '/a', body: 'payload', headers: { 'x-a': '1' } }, async (req) => {
      const moved = new Request('http://elsewhere/b', req);
      return [moved.method, moved.headers.get('x-a'), await moved.text()];
    });
    expect(got).toEqual(['PUT', '1', 'payload']);
  });

  // undici 6 (Node 20, 22) keeps a Request's state in symbol-keyed slots, which the façade forwards.
  const slots = Object.getOwnPropertySymbols(new NativeRequest('http://x/')).length > 0;
  it.runIf(slots)('new Request(request) copies the request where the runtime keeps its state in symbol slots', async () => {
    const got = await seen({ method: 'POST', url: '/a?b', body: 'payload', headers: { 'x-a': '1' } }, async (req) => {
      const copy = new Request(req);
      return [copy.method, copy.url, copy.headers.get('x-a'), await copy.text()];
    });
    expect(got).toEqual(['POST', 'http://localhost/a?b', '1', 'payload']);
  });

  it('§4.3 after text(), json(), arrayBuffer() or bytes(), every other read, clone and re-wrap throws as on a native Request', async () => {
    type Step = (req: Request) => unknown;
    const firsts: Record<string, Step> = { text: (r) => r.text(), json: (r) => r.json(), arrayBuffer: (r) => r.arrayBuffer() };
    // bytes() is newer than the DOM types in use, and than some runtimes.
    if ('bytes' in NativeRequest.prototype) firsts.bytes = (r) => (r as Request & { bytes(): Promise<Uint8Array> }).bytes();
    const thens: Record<string, Step> = {
      text: (r) => r.text(),
      'body.getReader()': (r) => r.body!.getReader(),
      blob: (r) => r.blob().then((blob) => blob.size),
      formData: (r) => r.formData().then((form) => [...form]),
      'clone().text()': (r) => r.clone().text(),
      'new Request(url, request).text()': (r) => new Request('http://elsewhere/', r).text(),
    };
    if (slots) thens['new Request(request).text()'] = (r) => new Request(r).text();
    const outcome = async (req: Request, first: Step, then: Step) => {
      await first(req);
      try {
        return { value: await then(req), bodyUsed: req.bodyUsed };
      } catch (error) {
        return { error: String(error), bodyUsed: req.bodyUsed };
      }
    };
    // JSON that json() parses, under a type formData() would parse.
    const init = { method: 'POST', body: '"a=1"', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    for (const [firstName, first] of Object.entries(firsts)) {
      for (const [thenName, then] of Object.entries(thens)) {
        const got = await seen(init, (req) => outcome(req, first, then));
        const native = await outcome(new NativeRequest('http://localhost/', init), first, then);
        expect([firstName, thenName, got]).toEqual([firstName, thenName, native]);
        expect(native).toEqual({ error: expect.stringMatching(/^TypeError/), bodyUsed: true });
      }
    }
  });

  it('§4.3 request.body is pulled as the handler reads it, not read ahead', async () => {
    let produced = 0;
    async function* upload() {
      for (let i = 0; i < 100; i++) {
        produced++;
        yield `chunk ${i};`;
      }
    }
    const got = await seen({ method: 'POST', body: upload() }, async (req) => {
      const reader = req.body!.getReader();
      const first = await reader.read();
      await tick();
      const pulled = produced;
      await reader.cancel();
      return [text(first.value), pulled];
    });
    expect(got[0]).toBe('chunk 0;');
    expect(got[1]).toBeLessThanOrEqual(3);
  });

  it('§4.3 cancelling request.body during a read of a stalled upload settles at once (a read timeout)', async () => {
    async function* stalled() {
      yield 'one';
      await new Promise(() => {});
    }
    const got = await seen({ method: 'POST', body: stalled() }, async (req) => {
      const reader = req.body!.getReader();
      await reader.read();
      const pending = reader.read();
      await tick();
      const cancelled = reader.cancel(new Error('too slow')).then(() => 'cancelled');
      return [await Promise.race([cancelled, tick(500).then(() => 'cancel() still pending')]), await pending];
    });
    expect(got).toEqual(['cancelled', { done: true, value: undefined }]);
  });

  it('§4.3 over a socket, the handler reads the first chunk of an upload before the client sends the rest', async () => {
    const firstChunk = deferred<string>();
    const server = await serve(
      fromFetch(async (req) => {
        const reader = req.body!.getReader();
        let step = await reader.read();
        firstChunk.resolve(text(step.value));
        let rest = '';
        for (step = await reader.read(); !step.done; step = await reader.read()) rest += text(step.value);
        return new Response(`rest:${rest}`);
      }),
      { port: 0 },
    );
    try {
      const { req, response } = open(server.url, { method: 'POST' });
      req.write('one');
      expect(await firstChunk.promise).toBe('one');
      req.end('two');
      expect(await readAll(await response)).toBe('rest:two');
    } finally {
      await server.close();
    }
  });

  it('§4.6 §12.1 request.signal aborts with an Error when the client goes away', async () => {
    const aborted = deferred<unknown>();
    const started = deferred();
    const server = await serve(
      fromFetch((req) => {
        req.signal.addEventListener('abort', () => aborted.resolve(req.signal.reason));
        started.resolve();
        return new Promise<Response>(() => {});
      }),
      { port: 0, errors: { write() {}, flush() {} } },
    );
    try {
      const { req, response } = open(server.url);
      response.catch(() => {});
      req.end();
      await started.promise;
      req.destroy();
      expect(await aborted.promise).toBeInstanceOf(Error);
    } finally {
      await server.close();
    }
  });
});

describe("fromFetch: a body that fails with its client still there (the server's 413)", () => {
  it('§4.3 reaches the handler as that error, which Hono answers with its status and message by default', async () => {
    const hono = new Hono().post('/', async (c) => c.json(await c.req.json()));
    const res = await request(fromFetch(hono.fetch), { method: 'POST', body: tooLargeBody(16), headers: { 'content-type': 'application/json', 'content-length': '100' } });
    expect([res.status, res.text(), res.errors]).toEqual([413, 'Request body exceeds the limit of 16 bytes', []]);
  });
});

describe('fromFetch: the Response a handler returns', () => {
  it('§6.1 the status and statusText make the status line; an empty statusText gets the registered reason', async () => {
    const teapot = await request(fromFetch(() => new Response('t', { status: 418 })));
    const custom = await request(fromFetch(() => new Response('c', { status: 202, statusText: 'Custom Reason' })));
    expect([teapot.status, teapot.statusText, custom.status, custom.statusText]).toEqual([418, "I'm a Teapot", 202, 'Custom Reason']);
  });

  it('§6.3 every set-cookie is its own field (getSetCookie); hop-by-hop fields are dropped', async () => {
    const headers = new Headers([['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2'], ['x-multi', 'one'], ['connection', 'close'], ['keep-alive', 'timeout=5'], ['transfer-encoding', 'chunked']]);
    const res = await request(fromFetch(() => new Response('x', { headers })));
    expect(res.headers.filter(([name]) => name === 'set-cookie').map(([, value]) => value)).toEqual(['a=1; Path=/', 'b=2']);
    expect(res.headers.map(([name]) => name).sort()).toEqual(['content-length', 'content-type', 'set-cookie', 'set-cookie', 'x-multi']);
  });

  it('§6.3 a status field, which NGI cannot carry, is dropped rather than failing the response (a proxied upstream may send one)', async () => {
    const res = await request(fromFetch(() => new Response('ok', { headers: { status: '200 OK', 'x-kept': '1' } })));
    expect([res.status, res.text(), res.header('x-kept'), res.header('status'), res.errors]).toEqual([200, 'ok', '1', undefined, []]);
  });

  it('a body that is complete at once gets a Content-Length; a streamed one is sent as it comes', async () => {
    const whole = await request(fromFetch(() => new Response('Hello ✓')));
    expect([whole.header('content-length'), whole.text()]).toEqual(['9', 'Hello ✓']);
    const gate = deferred();
    const { stream: body } = gatedStream('a', gate.promise, 'b');
    const streamed = await stream(fromFetch(() => new Response(body)));
    gate.resolve();
    let all = '';
    for await (const chunk of streamed.body) all += text(chunk);
    expect([streamed.header('content-length'), all]).toEqual([undefined, 'ab']);
  });

  it('a native Response made from a string or bytes is sent from them, its stream left unread; a body partly read sends the rest', async () => {
    const made: Response[] = [new NativeResponse('Hello ✓'), new NativeResponse(new Uint8Array([0, 255, 7]))];
    const first = await request(fromFetch(() => made[0]!));
    const second = await request(fromFetch(() => made[1]!));
    expect([first.header('content-length'), first.text(), second.header('content-length'), [...second.body]]).toEqual(['9', 'Hello ✓', '3', [0, 255, 7]]);
    // Node's Response keeps its source: neither stream was read (a read would mark the body used).
    expect(made.map((response) => response.bodyUsed)).toEqual([false, false]);

    const partly = await request(
      fromFetch(async () => {
        const response = new NativeResponse('all of it');
        const reader = response.body!.getReader();
        await reader.read();
        reader.releaseLock();
        return response;
      }),
    );
    expect([partly.status, partly.text()]).toEqual([200, '']);
  });

  it('a Response sent from its bytes is whole even when a clone of it is read before or after (the read hands the bytes over)', async () => {
    const logged: string[] = [];
    const copies: Promise<void>[] = [];
    const app = (readClone: 'before' | 'after') =>
      fromFetch(async () => {
        const response = NativeResponse.json({ hello: 'world' });
        const copy = response.clone();
        const read = copy.text().then((text) => void logged.push(text));
        if (readClone === 'before') await read;
        else copies.push(read);
        return response;
      });
    const before = await request(app('before'));
    const after = await request(app('after'));
    await Promise.all(copies);
    for (const res of [before, after]) expect([res.status, res.header('content-length'), res.text()]).toEqual([200, '17', '{"hello":"world"}']);
    expect(logged).toEqual(['{"hello":"world"}', '{"hello":"world"}']);
  });

  it('§9.3 the response streams: the first chunk arrives while the handler\'s stream is still open', async () => {
    const gate = deferred();
    const { stream: body, seen: source } = gatedStream('first;', gate.promise, 'second');
    const res = await stream(fromFetch(() => new Response(body)));
    const reader = res.body[Symbol.asyncIterator]();
    expect(text((await reader.next()).value)).toBe('first;');
    gate.resolve();
    expect(text((await reader.next()).value)).toBe('second');
    expect((await reader.next()).done).toBe(true);
    expect(source.cancelled).toBeUndefined();
  });

  it('§8.3 a Response whose body has nothing yet sends its head at once (hono#244)', async () => {
    const gate = deferred();
    const { stream: body } = gatedStream('', gate.promise, 'data: one\n\n');
    const res = await stream(fromFetch(() => new Response(body, { headers: { 'content-type': 'text/event-stream' } })));
    expect([res.status, res.header('content-type')]).toEqual([200, 'text/event-stream']);
    gate.resolve();
    let events = '';
    for await (const chunk of res.body) events += text(chunk);
    expect(events).toBe('data: one\n\n');
  });

  it('§10.3 HEAD: the body is cancelled, not sent, and the headers stay', async () => {
    const { stream: body, seen: source } = gatedStream('abc', new Promise(() => {}), '');
    const res = await request(fromFetch(() => new Response(body, { headers: { 'content-length': '3' } })), { method: 'HEAD' });
    expect([res.status, res.header('content-length'), res.body.length]).toEqual([200, '3', 0]);
    expect(source.cancelled).toBeDefined();
  });

  it('§10.3 HEAD keeps the Content-Length a GET of a complete body gets (hono#220)', async () => {
    const app = fromFetch(() => new NativeResponse('Hello ✓'));
    const [get, head] = [await request(app), await request(app, { method: 'HEAD' })];
    expect([get.header('content-length'), head.header('content-length'), head.body.length]).toEqual(['9', '9', 0]);
  });

  it('§10.4 a 204 loses the Content-Type and Content-Length a Response keeps, a 304 its Content-Type', async () => {
    const headers = { 'content-type': 'text/plain', 'content-length': '0', etag: '"x"' };
    for (const status of [204, 304]) {
      // request() runs the validator, which fails a response with a field §10.4 forbids.
      const res = await request(fromFetch(() => new Response(null, { status, headers })));
      expect([res.status, res.errors, res.headers]).toEqual([status, [], status === 204 ? [['etag', '"x"']] : [['content-length', '0'], ['etag', '"x"']]]);
    }
  });

  it('§12.1 §9.5 a client that goes away cancels the response body with an Error', async () => {
    const { stream: body, seen: source } = gatedStream('first;', new Promise(() => {}), '');
    const res = await stream(fromFetch(() => new Response(body)));
    for await (const _ of res.body) break; // the client leaves after one chunk
    await tick();
    expect(source.cancelled).toBeInstanceOf(Error);
  });

  it('§6.2 §11.1 a streamed Response with a header §6.2 refuses is a 500, and its body is cancelled', async () => {
    // Headers accepts DEL and other controls in a value; §6.2 does not.
    for (const value of ['caf\x7f', 'a\x01b']) {
      let timer: ReturnType<typeof setInterval> | undefined;
      let cancelled: unknown;
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => void (timer = setInterval(() => controller.enqueue(bytes('data: tick\n\n')), 1)),
        cancel: (reason) => {
          cancelled = reason;
          clearInterval(timer);
        },
      });
      const res = await request(fromFetch(() => new Response(body, { headers: { 'content-type': 'text/event-stream', 'x-user': value } })));
      await tick();
      clearInterval(timer);
      expect([res.status, res.errors.join('')]).toEqual([500, expect.stringMatching(/§6\.2: header x-user/)]);
      expect(cancelled).toBeInstanceOf(Error);
    }
  });

  it('§12.1 a handler still working when the client leaves: the request ends, and its late Response is cancelled', async () => {
    const late = deferred<Response>();
    const client = new AbortController();
    const pending = stream(fromFetch(() => late.promise), { signal: client.signal });
    await tick();
    client.abort();
    await expect(pending).rejects.toThrow(/abandoned/);
    const { stream: body, seen: source } = gatedStream('x', new Promise(() => {}), '');
    late.resolve(new Response(body));
    await tick();
    expect(source.cancelled).toBeInstanceOf(Error);
  });

  it('§11.1 a handler that throws or rejects, or returns no Response, is answered 500', async () => {
    const thrown = await request(fromFetch(() => { throw new Error('boom'); }));
    const rejected = await request(fromFetch(() => Promise.reject(new Error('boom'))));
    const wrong = await request(fromFetch((() => 'not a response') as never));
    expect([thrown.status, rejected.status, wrong.status]).toEqual([500, 500, 500]);
    expect(wrong.errors.join('')).toMatch(/fromFetch: the handler must return a Response, got not a response/);
  });

  it('§11.1 a Response whose body the handler already read is a 500 that says so', async () => {
    const res = await request(fromFetch(async () => {
      const response = new NativeResponse(new ReadableStream({ start: (controller) => (controller.enqueue(bytes('x')), controller.close()) }));
      await response.text();
      return response;
    }));
    expect(res.status).toBe(500);
    expect(res.errors.join('')).toMatch(/fromFetch: the handler returned a Response whose body is locked/);
  });

  it('§11.2 a body stream that fails after the head cuts the response short', async () => {
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent) throw new Error('stream failed');
        sent = true;
        controller.enqueue(bytes('partial'));
        await tick();
      },
    });
    await expect(request(fromFetch(() => new Response(body)))).rejects.toThrow(/abandoned/);
  });
});

describe('fromFetch: handlers and their arguments', () => {
  it('takes a Hono app: routes, params, middleware and c.env (the environ by default)', async () => {
    const hono = new Hono<{ Bindings: Environ }>();
    hono.use(async (c, next) => {
      await next();
      c.header('x-seen-by', 'middleware');
    });
    hono.get('/users/:id', (c) => c.json({ id: c.req.param('id'), remote: c.env.REMOTE_ADDR, q: c.req.query('q') }));
    const app = fromFetch(hono);
    const res = await request(app, { url: '/users/42?q=%E2%9C%93' });
    expect([res.status, res.header('x-seen-by'), res.json()]).toEqual([200, 'middleware', { id: '42', remote: '127.0.0.1', q: '✓' }]);
    expect((await request(app, { url: '/nope' })).status).toBe(404);
  });

  it('options.env replaces the second argument; waitUntil failures are logged to ngi.errors', async () => {
    let args: unknown[] = [];
    const app = fromFetch(
      (req, env: unknown, ctx: FetchExecutionContext) => {
        args = [env, typeof ctx.passThroughOnException];
        ctx.waitUntil(Promise.reject(new Error('background job failed')));
        return new Response('ok');
      },
      { env: (environ) => ({ path: environ.PATH_INFO }) },
    );
    const res = await request(app, { url: '/p' });
    await tick();
    expect(args).toEqual([{ path: '/p' }, 'function']);
    expect(res.errors.join('')).toMatch(/waitUntil\(\) promise failed: Error: background job failed/);
  });

  it('rejects what is not a fetch handler with a TypeError', () => {
    expect(() => fromFetch({} as never)).toThrow(TypeError);
    expect(() => fromFetch('handler' as never)).toThrow(/expected a fetch handler/);
    // Functions that would fail every request: an Express app, and a class (Hono itself, not an instance).
    const expressLike = Object.assign(() => {}, { handle() {}, set() {}, use() {} });
    expect(() => fromFetch(expressLike as never)).toThrow('fromFetch: expected a fetch handler (request) => Response, got an Express app: fromExpress(app) from @ngi/express');
    expect(() => fromFetch(Hono as never)).toThrow('fromFetch: expected a fetch handler (request) => Response, got a class: give an instance, fromFetch(new App())');
  });

  it('rejects an options.env that is not a function at once, not with a 500 per request', () => {
    // Workers bindings are an object; passing them as they are is the likely mistake.
    expect(() => fromFetch(() => new Response('ok'), { env: { KV: 'binding' } } as never)).toThrow(/fromFetch: options.env must be a function/);
  });
});
