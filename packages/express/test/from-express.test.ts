import http from 'node:http';
import http2 from 'node:http2';
import { Socket, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cascade, mount, request, type Application } from '@ngi/core';
import { fromNodeListener, serverClassesFor, toNodeListener } from '@ngi/node';
import express, { type ErrorRequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { expressMajor } from '../../../test/fixtures/versions.ts';
import { fromExpress, toExpress } from '../src/index.ts';
import { files } from './_feature-app.ts';
import { deferred, fetchRaw, listen, listenApp, open, quiet, recorder, through, waitFor } from './_helpers.ts';

describe('fromExpress: requests no route answers (§14.1)', () => {
  it("§14.1 answers Express's own 404 page, marked x-cascade: pass", async () => {
    const app = express().get('/here', (_req, res) => void res.send('here'));
    const native = await fetchRaw((await listen(app)).url, '/nope?x=1');
    const res = await request(fromExpress(app), { url: '/nope?x=1' });
    expect([res.status, res.header('x-cascade'), res.text()]).toEqual([404, 'pass', native.text()]);
    expect(res.text()).toContain('<pre>Cannot GET /nope</pre>');
  });

  it('§14.1 shows the path on its 404 page as Express does: percent-encoded where a URL would be, then escaped', async () => {
    const app = express().get('/here', (_req, res) => void res.send('here'));
    const native = await listen(app);
    // Characters Node's parser lets through that a URL encodes, and escapes that stay as they are.
    for (const path of ['/<b>"x"', '/{a}|`', '/100%25', '/caf%C3%A9', '/a&b', "/it's"]) {
      const expected = await fetchRaw(native.url, path);
      const res = await request(fromExpress(app), { url: path });
      expect([path, res.status, res.text()]).toEqual([path, 404, expected.text()]);
    }
  });

  it('§14.1 lets cascade() fall through to a legacy Express app, which still gets the whole POST body', async () => {
    const fresh = express().get('/new', (_req, res) => void res.send('new'));
    const legacy = express().post('/old', express.text(), (req, res) => void res.send(`legacy got ${req.body}`));
    const site = cascade([fromExpress(fresh), fromExpress(legacy)]);
    const res = await request(site, { method: 'POST', url: '/old', body: 'the payload', headers: { 'content-type': 'text/plain' } });
    expect([res.status, res.text()]).toEqual([200, 'legacy got the payload']);
    expect((await request(site, { url: '/new' })).text()).toBe('new');
  });

  it('§14.1 under toExpress in another Express app, an unmatched request goes on to the outer routes', async () => {
    const sub = express().get('/inner', (req, res) => void res.send(`inner at ${req.baseUrl}`));
    const outer = express().use('/sub', toExpress(fromExpress(sub)));
    outer.get('/sub/outer-only', (_req, res) => void res.send('outer route'));
    const { url } = await listen(outer);
    expect((await fetchRaw(url, '/sub/inner')).text()).toBe('inner at /sub');
    expect((await fetchRaw(url, '/sub/outer-only')).text()).toBe('outer route');
  });

  it('fallthrough: false keeps Express\'s own final handler: no x-cascade', async () => {
    const res = await request(fromExpress(express(), { fallthrough: false }), { url: '/nope' });
    expect([res.status, res.header('x-cascade')]).toEqual([404, undefined]);
  });
});

describe('fromExpress: errors no error handler took', () => {
  it('§4.6 §12.2 a callable inside whose own error became the 500 is not told the client left; one still at work when a timeout middleware fails the request is', async () => {
    const seen: Record<string, boolean> = {};
    const watched = (name: string, work: (environ: Parameters<Application>[0]) => Promise<void>): Application => async (environ, startResponse) => {
      environ['ngi.signal'].addEventListener('abort', () => (seen[name] = true));
      seen[name] = false;
      await work(environ);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['late'];
    };
    const failing = watched('failing', async () => {
      throw new Error('fails before its head');
    });
    const slow = watched('slow', () => new Promise((resolve) => setTimeout(resolve, 300)));
    const app = express();
    // As connect-timeout: the request goes on, and a moment later the middleware fails it.
    app.use('/slow', (_req, _res, next) => (next(), setTimeout(() => next(new Error('timed out')), 50)));
    app.use('/slow', toExpress(slow));
    app.use('/failing', toExpress(failing));
    const [first, second] = await Promise.all([request(fromExpress(app), { url: '/failing' }), request(fromExpress(app), { url: '/slow' })]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect([first.status, second.status, seen]).toEqual([500, 500, { failing: false, slow: true }]);
  });

  it('§11.1 an error without a status becomes the server\'s 500, logged to ngi.errors', async () => {
    const app = express().get('/boom', () => {
      throw new Error('unhandled boom');
    });
    const res = await request(fromExpress(app), { url: '/boom' });
    expect([res.status, res.text()]).toEqual([500, 'Internal Server Error']);
    expect(res.errors.join('')).toContain('unhandled boom');
  });

  it("§11.1 a client error (body-parser's 400) is answered with its status and headers; a 5xx one is the server's 500", async () => {
    const app = express().use(express.json());
    app.post('/json', (_req, res) => void res.send('parsed'));
    app.get('/slow-down', (_req, _res, next) => next(Object.assign(new Error('too many'), { status: 429, headers: { 'retry-after': '5' } })));
    app.get('/busy', (_req, _res, next) => next(Object.assign(new Error('overloaded'), { status: 503 })));
    const bad = await request(fromExpress(app), { method: 'POST', url: '/json', body: '{oops', headers: { 'content-type': 'application/json' } });
    expect([bad.status, bad.header('content-type'), bad.errors]).toEqual([400, 'text/html; charset=utf-8', []]);
    expect(bad.text()).toContain('<pre>Bad Request</pre>');
    const limited = await request(fromExpress(app), { url: '/slow-down' });
    expect([limited.status, limited.header('retry-after')]).toEqual([429, '5']);
    const busy = await request(fromExpress(app), { url: '/busy' });
    expect(busy.status).toBe(500);
    expect(busy.errors.join('')).toContain('overloaded');
  });

  it('§11.1 under toExpress, an unhandled error reaches the outer app\'s error handler as the same object', async () => {
    const thrown = new Error('from the sub-app');
    const sub = express().get('/fail', () => {
      throw thrown;
    });
    let received: unknown;
    const outer = express().use('/sub', toExpress(fromExpress(sub)));
    outer.use(((error, _req, res, _next) => ((received = error), res.status(502).send('outer handler'))) as ErrorRequestHandler);
    const { url } = await listen(outer);
    const res = await fetchRaw(url, '/sub/fail');
    expect([res.status, res.text(), received]).toEqual([502, 'outer handler', thrown]);
  });

  it.each([
    ['an object passed to next()', (_req: unknown, _res: unknown, next: (error: unknown) => void) => next({ status: 503, message: 'maintenance', code: 'MAINT' })],
    ['a string passed to next()', (_req: unknown, _res: unknown, next: (error: unknown) => void) => next('a string error')],
    ['a thrown object', () => {
      throw { status: 502, message: 'upstream' };
    }],
  ])('§11.1 under toExpress, %s reaches the outer app\'s error handler as it was, as from a native sub-app', async (_what, route) => {
    const received: unknown[] = [];
    const handler: ErrorRequestHandler = (error, _req, res, _next) => void (received.push(error), res.status(500).send('outer handler'));
    const sub = () => express().get('/fail', route as express.RequestHandler);
    const native = await listen(express().use('/sub', sub()).use(handler));
    const ngi = await listen(express().use('/sub', toExpress(fromExpress(sub()))).use(handler));
    await fetchRaw(native.url, '/sub/fail');
    await fetchRaw(ngi.url, '/sub/fail');
    expect(received).toHaveLength(2);
    expect(received[1]).toEqual(received[0]);
    expect(typeof received[1]).toBe(typeof received[0]);
  });

  it('fallthrough: false lets Express render the error page itself, with the error\'s status', async () => {
    const app = express().get('/teapot', (_req, _res, next) => next(Object.assign(new Error('short and stout'), { status: 418 })));
    const res = await request(fromExpress(app, { fallthrough: false }), { url: '/teapot' });
    expect(res.status).toBe(418);
  });
});

describe('fromExpress: mounting and redirects', () => {
  it('§3.2 sets req.baseUrl and req.originalUrl from SCRIPT_NAME, the prefix spelled as the client sent it', async () => {
    const app = express().get('/who', (req, res) => void res.json([req.baseUrl, req.originalUrl, req.url, req.path]));
    const site = mount({ '/admin': fromExpress(app) });
    expect((await request(site, { url: '/admin/who?x=1' })).json()).toEqual(['/admin', '/admin/who?x=1', '/who?x=1', '/who']);
    expect((await request(site, { url: '/%61dmin/who' })).json()).toEqual(['/%61dmin', '/%61dmin/who', '/who', '/who']);
  });

  it('§3.4 at the mount point itself, req.originalUrl has no "/" the client never sent, and express.static redirects to the directory as a native sub-app does', async () => {
    const sub = () => {
      const app = express().get('/who', (req, res) => void res.json([req.baseUrl, req.originalUrl, req.url]));
      return app.use(express.static(join(files.root, 'docs')));
    };
    const native = await listen(express().use('/docs', sub()));
    const site = through(mount({ '/docs': fromExpress(sub()) }));
    for (const path of ['/docs', '/docs?x=1', '/docs/']) {
      const [ours, theirs] = [await request(site, { url: path }), await fetchRaw(native.url, path)];
      expect([ours.status, ours.header('location')]).toEqual([theirs.status, theirs.header('location')]);
    }
    expect((await request(site, { url: '/docs' })).header('location')).toBe('/docs/');
    const who = (path: string) => request(mount({ '/docs': fromExpress(express().get('/', (req, res) => void res.json([req.originalUrl, req.url]))) }), { url: path });
    expect([(await who('/docs?x=1')).json(), (await who('/docs/')).json()]).toEqual([['/docs?x=1', '/?x=1'], ['/docs/', '/']]);
  });

  it("§14.2 with mount's rewriteRedirects, res.redirect('/login') comes out under the prefix (express#2348)", async () => {
    const app = express().get('/private', (_req, res) => res.redirect('/login'));
    const plain = await request(mount({ '/legacy': fromExpress(app) }), { url: '/legacy/private' });
    const rewritten = await request(mount({ '/legacy': fromExpress(app) }, { rewriteRedirects: true }), { url: '/legacy/private' });
    expect([plain.header('location'), rewritten.header('location')]).toEqual(['/login', '/legacy/login']);
  });
});

describe('fromExpress: what it accepts', () => {
  it('used as Express middleware itself, an NGI application throws a TypeError naming the mistake, which Express\'s error handlers get', async () => {
    const inner = express().get('/', (_req, res) => void res.send('inner'));
    const handled: string[] = [];
    const onError: ErrorRequestHandler = (error: Error, _req, res, _next) => void (handled.push(error.message), res.status(418).send('handled'));
    const host = express()
      .use('/a', fromExpress(inner) as never)
      .use('/b', mount({ '/': fromExpress(inner) }) as never)
      .use(onError);
    const { url, close } = await listen(host as never);
    try {
      const answers = [await fetchRaw(url, '/a'), await fetchRaw(url, '/b')].map((res) => [res.status, res.text()]);
      expect(answers).toEqual([[418, 'handled'], [418, 'handled']]);
      expect(handled).toEqual([
        expect.stringMatching(/^An application from fromExpress, fromKoa, fromFastify or fromNodeListener is an NGI application, \(environ, startResponse\) => body, but was called with a Node request \(IncomingMessage\): serve it with serve\(app\)/),
        expect.stringMatching(/^mount\(table\) is an NGI application/),
      ]);
    } finally {
      await close();
    }
  });

  it('serves a Router wrapped in an app, with fall-through for what it does not route', async () => {
    const router = express.Router().get('/item/:id', (req, res) => void res.send(`item ${req.params.id} at ${req.baseUrl}`));
    const site = mount({ '/shop': fromExpress(express().use(router)) });
    expect((await request(site, { url: '/shop/item/3' })).text()).toBe('item 3 at /shop');
    expect((await request(site, { url: '/shop/other' })).header('x-cascade')).toBe('pass');
  });

  it('takes an Express-like app without request and response prototypes (a test double), making plain req and res', async () => {
    const double = Object.assign((_req: http.IncomingMessage, res: http.ServerResponse) => void res.end('double'), { set() {} });
    const res = await request(through(fromExpress(double as never, { fallthrough: false })));
    expect([res.status, res.text()]).toEqual([200, 'double']);
  });

  it('rejects what is not an app with a clear TypeError', () => {
    expect(() => fromExpress({} as never)).toThrow(new TypeError('fromExpress: app must be an Express application, got object'));
    expect(() => fromExpress(express.Router() as never)).toThrow(new TypeError('fromExpress: app must be an Express application; wrap a Router as express().use(router)'));
    // A plain listener and a Hono app each have their own adapter.
    expect(() => fromExpress(((_req: unknown, res: http.ServerResponse) => res.end()) as never)).toThrow('fromExpress: app must be an Express application, got a plain function: for a (req, res) listener, fromNodeListener(listener) from @ngi/node');
    expect(() => fromExpress({ fetch() {} } as never)).toThrow('fromExpress: app must be an Express application; for an object with fetch() (a Hono app), fromFetch(app) from @ngi/fetch');
    // Shaped as a Koa app and a Fastify instance are: each has its own adapter.
    expect(() => fromExpress({ callback() {} } as never)).toThrow('fromExpress: app must be an Express application; for a Koa app, fromKoa(app) from @ngi/koa');
    expect(() => fromExpress({ inject() {}, routing() {} } as never)).toThrow('fromExpress: app must be an Express application; for a Fastify instance, fromFastify(app) from @ngi/fastify');
    expect(() => toExpress('app' as never)).toThrow(/toExpress: app must be an NGI application/);
    // An Express app is a function too, but would fail on every request: the mistake is named.
    expect(() => toExpress(express() as never)).toThrow('toExpress: app must be an NGI application (environ, startResponse) => body, got an Express app: wrap it, fromExpress(app) from @ngi/express');
    expect(() => toNodeListener(express() as never)).toThrow('toNodeListener: expected an NGI application (a function), got an Express app');
    expect(() => toExpress(() => [], { parsedBody: 'json' as never })).toThrow('toExpress: parsedBody must be "serialize" or "error", got "json"');
    expect(() => toExpress(() => [], { drainLimit: -1 })).toThrow(/drainLimit must be a number of bytes/);
    expect(() => toExpress(() => [], { errors: console as never })).toThrow('toExpress: options.errors must be an error stream { write(message), flush() } (§4.4)');
    expect(() => toExpress(() => [], { fallThrough: false } as never)).toThrow('toExpress: unknown option "fallThrough" (did you mean "fallthrough"?)');
    expect(() => toExpress(() => [], { multiprocess: 1 } as never)).toThrow('toExpress: options.multiprocess must be a boolean, got number');
    expect(() => fromExpress(express(), { fallthrough: 'false' } as never)).toThrow('fromExpress: options.fallthrough must be a boolean, got "false"');
  });
});

describe('fromExpress: streaming and the connection', () => {
  it('§11.2 an error after the head inside a nested application is reported once, not again by each server outside it', async () => {
    const failing: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'partial';
        await new Promise((r) => setTimeout(r, 10));
        throw new Error('boom after the head');
      })();
    };
    const errors = recorder();
    const { url } = await listenApp(through(fromExpress(express().use(toExpress(failing)))), errors);
    await expect(fetch(url).then((res) => res.text())).rejects.toThrow();
    await waitFor(() => errors.lines.length, (count) => count > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(errors.lines).toEqual([expect.stringMatching(/^§11\.2: error after the response head was sent; connection dropped: Error: boom after the head/)]);
  });

  it('§8.3 §9.3 an event stream: the head at flushHeaders(), each res.write() as it happens', async () => {
    const gate = deferred();
    const app = express().get('/events', async (_req, res) => {
      res.setHeader('content-type', 'text/event-stream');
      res.flushHeaders();
      await gate.promise;
      res.write('data: one\n\n');
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.end('data: two\n\n');
    });
    const { url } = await listenApp(through(fromExpress(app)));
    const res = await open(url, '/events');
    expect(res.headers['content-type']).toBe('text/event-stream');
    gate.resolve();
    const reader = res[Symbol.asyncIterator]();
    expect(String((await reader.next()).value)).toBe('data: one\n\n');
    expect(String((await reader.next()).value)).toBe('data: two\n\n');
  });

  it("§4.3 a body past the server's maxBodySize reaches body-parser as the server's 413, and the app's error handler answers it", async () => {
    const seen: string[] = [];
    const app = express()
      .use(express.json())
      .post('/', (req, res) => void res.json(req.body))
      .use(((error, _req, res, _next) => {
        seen.push(`${error.status} ${error.message}`);
        res.status(error.status).send(`refused: ${error.message}`);
      }) as ErrorRequestHandler);
    const { url } = await listenApp(fromExpress(app), quiet, false, 16);
    // Chunked, so only reading finds the body too large; not "request aborted" (a 400), nor a hang.
    const chunked = async function* () {
      yield '{"text": "';
      yield 'x'.repeat(100) + '"}';
    };
    const res = await fetchRaw(url, '/', { method: 'POST', body: chunked(), headers: { 'content-type': 'application/json' } });
    expect([res.status, res.text()]).toEqual([413, 'refused: Request body exceeds the limit of 16 bytes']);
    expect(seen).toEqual(['413 Request body exceeds the limit of 16 bytes']);
  });

  it("§4.3 body-parser past its own limit, draining, gets the server's 413 as it drains, and a request error only logged does not hang it", async () => {
    const logged: string[] = [];
    const app = express()
      .use((req, _res, next) => void (req.on('error', (error) => logged.push(error.message)), next()))
      .use(express.json({ limit: '100b' }))
      .post('/', (req, res) => void res.json(req.body));
    const { url } = await listenApp(fromExpress(app), quiet, false, 1000);
    const chunked = async function* () {
      for (let i = 0; i < 5; i++) yield 'x'.repeat(1000);
    };
    const res = await fetchRaw(url, '/', { method: 'POST', body: chunked(), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
  });

  it('§12.1 a client abort reaches the Express handler as req and res "close" with the response unfinished', async () => {
    const seen: string[] = [];
    const app = express().get('/hang', (req, res) => {
      req.on('close', () => seen.push('req close'));
      res.on('close', () => seen.push(`res close, finished: ${res.writableFinished}`));
      res.write('started');
    });
    const { url } = await listenApp(through(fromExpress(app)));
    const res = await open(url, '/hang');
    await res[Symbol.asyncIterator]().next();
    res.destroy();
    await waitFor(() => seen.length, (n) => n === 2);
    expect(seen.sort()).toEqual(['req close', 'res close, finished: false']);
  });

  it("pass-through: toNodeListener(fromExpress(app)) alone hands the app Node's own req and res", async () => {
    let direct: boolean | undefined;
    const app = express().get('/', (req, res) => void ((direct = req.socket instanceof Socket), res.send('ok')));
    await fetchRaw((await listenApp(fromExpress(app))).url, '/');
    const native = direct;
    await fetchRaw((await listenApp(through(fromExpress(app)))).url, '/');
    expect([native, direct]).toEqual([true, false]);
  });
});

describe('fromExpress: served with nothing in between', () => {
  it('§12.4 answers Expect: 100-continue, as Node does for an app it serves', async () => {
    const app = express().use(express.json()).post('/', (req, res) => void res.json(req.body));
    const server = await listenApp(fromExpress(app));
    const answer = await new Promise<string>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', expect: '100-continue', 'content-length': '7' };
      const req = http.request(server.url, { method: 'POST', headers }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += String(chunk)));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      });
      req.on('continue', () => req.end('{"a":1}'));
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer).toBe('200 {"a":1}');
  });
});

describe('fromExpress over HTTP/2', () => {
  /** One h2c request to `toNodeListener(fromExpress(app))`, `body` sent in two DATA frames with no Content-Length. */
  async function exchange(app: express.Express, method: string, body?: string): Promise<string> {
    const server = http2.createServer(toNodeListener(fromExpress(app)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      return await new Promise<string>((resolve, reject) => {
        const headers = { ':method': method, ':path': '/', ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
        const req = client.request(headers, { endStream: body === undefined });
        if (body !== undefined) {
          req.write(body.slice(0, 3));
          setTimeout(() => req.end(body.slice(3)), 10);
        }
        let text = '';
        req.on('data', (chunk: Buffer) => (text += String(chunk)));
        req.on('end', () => resolve(text));
        req.on('error', reject);
      });
    } finally {
      client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  it('§4.3 a body sent without Content-Length reaches express.json() (type-is takes one with neither Content-Length nor Transfer-Encoding for none)', async () => {
    const app = express().use(express.json()).post('/', (req, res) => void res.json({ body: req.body, te: req.headers['transfer-encoding'] }));
    expect(JSON.parse(await exchange(app, 'POST', '{"a":1}'))).toEqual({ body: { a: 1 }, te: 'chunked' });
  });

  it('§4.3 a GET has no body: no Transfer-Encoding, express.json() leaves req.body alone, and the request is complete unread', async () => {
    const app = express()
      .use(express.json({ type: () => true }))
      // After the listener's first step, as Node's parser would by then, a request without a body is complete.
      .get('/', (req, res) => void setImmediate(() => res.json({ body: req.body ?? null, te: req.headers['transfer-encoding'] ?? null, complete: req.complete })));
    // Express 4's body-parser sets an empty `req.body` before it sees there is no body.
    expect(JSON.parse(await exchange(app, 'GET'))).toEqual({ body: expressMajor >= 5 ? null : {}, te: null, complete: true });
  });
});

describe('fromExpress: nothing shared is changed', () => {
  it("leaves Node's and Express's prototypes alone while the same app is also served natively", async () => {
    const protos = () => [
      Object.getOwnPropertyNames(http.IncomingMessage.prototype).sort(),
      Object.getOwnPropertyNames(http.ServerResponse.prototype).sort(),
      Object.getPrototypeOf(express.request),
      Object.getPrototypeOf(express.response),
    ];
    const before = protos();
    const app = express().get('/', (req, res) => void res.send(String(Object.getPrototypeOf(req) === app.request)));
    const native = await listen(app);
    const errors = recorder();
    const ngi = await listenApp(through(fromExpress(app)), errors);
    const answers = await Promise.all([native, ngi, native, ngi].map(({ url }) => fetchRaw(url, '/').then((res) => res.text())));
    expect(answers).toEqual(['true', 'true', 'true', 'true']);
    expect(protos()).toEqual(before);
    expect([before[2], before[3], Object.getPrototypeOf(app.request), errors.lines]).toEqual([
      http.IncomingMessage.prototype,
      http.ServerResponse.prototype,
      express.request,
      [],
    ]);
  });

  it('makes req and res with the app\'s own prototypes, so Express has nothing to re-parent (V8 keeps one shape for them)', async () => {
    const app = express().get('/', (_req, res) => void res.send('ok'));
    // fromNodeListener finds the prototypes on the app itself (app.request, app.response).
    const apps = [fromExpress(app), fromNodeListener(app as never)];
    const [answers, reparented] = await reparentedDuring(() => Promise.all(apps.map((ngi) => request(through(ngi), { url: '/' }))));
    expect([answers.map((res) => [res.status, res.text()]), reparented]).toEqual([[[200, 'ok'], [200, 'ok']], []]);
  });

  it('served with nothing in between, by serve() or with serverClassesFor(), Node makes the requests and responses with the app\'s prototypes too', async () => {
    const app = express().get('/', (req, res) => void res.send(`${req.protocol} ${req.get('x-probe')}`));
    const served = await listenApp(fromExpress(app));
    const own = http.createServer(serverClassesFor(fromExpress(app)), toNodeListener(fromExpress(app)));
    const ownUrl = await new Promise<string>((resolve) => own.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(own.address() as AddressInfo).port}`)));
    const urls = [served.url, served.url, ownUrl, ownUrl];
    const fetchAll = () => Promise.all(urls.map((url) => fetchRaw(url, '/', { headers: { 'x-probe': 'yes' } }).then((res) => res.text())));
    const [answers, reparented] = await reparentedDuring(fetchAll).finally(() => own.close());
    expect([answers, reparented]).toEqual([['http yes', 'http yes', 'http yes', 'http yes'], []]);
    expect(serverClassesFor(through(fromExpress(app)))).toEqual({});
    // Node's own classes are left as they are.
    expect(Object.getPrototypeOf(new http.IncomingMessage(new Socket()))).toBe(http.IncomingMessage.prototype);
  });
});

/** Runs `action`, recording each object `Object.setPrototypeOf` gives another prototype meanwhile. */
async function reparentedDuring<T>(action: () => Promise<T>): Promise<[T, unknown[]]> {
  const reparented: unknown[] = [];
  const setPrototypeOf = Object.setPrototypeOf;
  Object.setPrototypeOf = (object: object, proto: object | null) => {
    if (Object.getPrototypeOf(object) !== proto) reparented.push(object);
    return setPrototypeOf(object, proto);
  };
  try {
    return [await action(), reparented];
  } finally {
    Object.setPrototypeOf = setPrototypeOf;
  }
}
