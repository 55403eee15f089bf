import { randomBytes } from 'node:crypto';
import { Agent, type IncomingMessage } from 'node:http';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync } from 'node:zlib';
import { fromExpress, toExpress } from '@ngi/express';
import { fromFastify } from '@ngi/fastify';
import { fromKoa } from '@ngi/koa';
import compression from 'compression';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';
import morgan from 'morgan';
import multer from 'multer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen, quiet } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';
import { gate } from '../fixtures/gate.ts';
import { LogLines, ORIGIN, SECRET } from './_express-app.ts';
import { view } from './_express-configs.ts';
import { BIG, BLOCK, BLOCKS, COOKIES, EVENTS, FAILURE, PART, PARTS, SMALL, TAG, TAGGED, callable, fastifyApp, koaApp, nativeRoutes } from './_express-host-apps.ts';

const log = new LogLines();
/** The messages of the errors the host's error handler rendered. */
const handled: string[] = [];

/** An Express app with the usual middleware, the three applications mounted, and the same answers natively under /native. */
function host(): express.Express {
  // Express's own ETag comes from res.send(), as its 304 does (README): a mounted application tags its own bodies.
  const app = express().set('etag', false);
  app.use(morgan(':method :url :status :res[content-length] :res[content-encoding]', { stream: log.stream }));
  app.use(helmet());
  app.use(cors({ origin: ORIGIN, credentials: true, exposedHeaders: ['etag'], maxAge: 600 }));
  app.use(compression({ threshold: 1024 }));
  app.use(cookieParser(SECRET));
  app.use(session({ secret: SECRET, name: 'sid', resave: false, saveUninitialized: false }));
  app.use((req, res, next) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.setHeader('x-views', String(req.session.count));
    next();
  });
  app.use('/ngi', toExpress(callable, { errors: quiet }));
  app.use('/fastify', toExpress(fromFastify(fastifyApp())));
  app.use('/koa', toExpress(fromKoa(koaApp(), { cascade: true })));
  app.use('/native', nativeRoutes);
  app.get('/:mount/elsewhere', (_req, res) => void res.type('text/plain').send('the host answered'));
  app.use(((error: Error, _req, res, _next) => {
    handled.push(error.message);
    res.status(500).type('text/plain').send(`handled: ${error.message}`);
  }) as express.ErrorRequestHandler);
  return app;
}

let server: ConformanceServer;
// Kept-alive connections, as browsers use: a response must end by its framing, not by a close.
const agent = new Agent({ keepAlive: true });
/** The warnings Node emitted: a listener left behind on each wait makes one. */
const warnings: Error[] = [];
const warned = (warning: Error) => void warnings.push(warning);
beforeAll(async () => void (process.on('warning', warned), (server = await listen(host()))));
afterAll(() => (process.off('warning', warned), agent.destroy(), server.close()));

const GZIP: [string, string] = ['accept-encoding', 'gzip'];
const BR: [string, string] = ['accept-encoding', 'br'];
const FROM: [string, string] = ['origin', ORIGIN];

function decoded(res: RawResponse): string {
  const encoding = res.header('content-encoding');
  return (encoding === 'gzip' ? gunzipSync(res.body) : encoding === 'br' ? brotliDecompressSync(res.body) : res.body).toString();
}

/** The line morgan wrote for `url`, once it has. */
async function logged(url: string): Promise<string> {
  for (;;) {
    const line = log.lines.find((candidate) => candidate.split(' ')[1] === url);
    if (line !== undefined) return line;
    await log.until(log.lines.length + 1);
  }
}

describe.each([
  { name: 'a plain NGI callable', prefix: '/ngi' },
  { name: 'a Fastify app through fromFastify', prefix: '/fastify' },
  { name: 'a Koa app through fromKoa', prefix: '/koa' },
])('$name mounted with toExpress under compression, helmet, cors, express-session and morgan', ({ prefix }) => {
  /** The mounted application's answer and the native route's: the client must see the same. */
  async function same(path: string, headers: [string, string][] = [], more: RawRequest = {}): Promise<RawResponse> {
    const init = { ...more, headers: [FROM, ...headers], agent };
    const [got, want] = await Promise.all([fetchRaw(server.url, prefix + path, init), fetchRaw(server.url, '/native' + path, init)]);
    expect(view(got)).toEqual(view(want));
    return got;
  }

  it('gzip and br: a whole body compressed as natively, a small one left alone; helmet and CORS headers on all', async () => {
    for (const accept of [GZIP, BR]) {
      const res = await same('/json', [accept]);
      expect([res.header('content-encoding'), res.header('content-length'), JSON.parse(decoded(res))]).toEqual([accept[1], undefined, BIG]);
    }
    const small = await same('/small', [GZIP]);
    expect([small.header('content-encoding'), small.json()]).toEqual([undefined, SMALL]);
    expect([small.header('vary'), small.header('access-control-allow-origin'), small.header('access-control-allow-credentials')]).toEqual(['Origin, Accept-Encoding', ORIGIN, 'true']);
    expect([small.header('x-frame-options'), small.header('x-content-type-options'), small.header('x-powered-by')]).toEqual(['SAMEORIGIN', 'nosniff', undefined]);
    expect(small.header('content-security-policy')).toContain("default-src 'self'");
  });

  it('a body streamed over several turns goes through compression whole', async () => {
    const res = await same('/stream', [GZIP]);
    expect([res.header('content-encoding'), res.header('transfer-encoding'), decoded(res)]).toEqual(['gzip', 'chunked', PART.repeat(PARTS)]);
  });

  it('a download over what zlib takes at once waits for drain with one listener, not one per wait (expressjs/compression#135)', async () => {
    const res = await same('/download', [GZIP]);
    expect([res.header('content-encoding'), gunzipSync(res.body).equals(Buffer.alloc(BLOCK.length * BLOCKS, BLOCK[0]))]).toEqual(['gzip', true]);
    // compression() moves 'drain' listeners to its zlib stream, where res.once's cleanup never finds them.
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it.each(['gzip', 'br'])('an event stream arrives through compression (%s) event by event: each is read before the next is written', async (encoding) => {
    const accept: [string, string] = ['accept-encoding', encoding];
    /** Reads each event off the decompressed stream, then lets the next be written. */
    async function read(path: string, id: string): Promise<{ res: IncomingMessage; events: string[] }> {
      const res = await open(server.url, `${path}/events?id=${id}`, { headers: [FROM, accept], agent });
      const inflated = res.pipe(encoding === 'br' ? createBrotliDecompress() : createGunzip())[Symbol.asyncIterator]();
      const events: string[] = [];
      for (let i = 0; i < EVENTS.length; i++) {
        let event = '';
        while (!event.endsWith('\n\n')) event += String((await inflated.next()).value);
        events.push(event);
        if (i + 1 < EVENTS.length) gate(`${id}:${i + 1}`).open();
      }
      return { res, events };
    }
    const id = `${prefix}-${encoding}`;
    const [got, want] = await Promise.all([read(prefix, id), read('/native', `native${id}`)]);
    expect([got.events, want.events]).toEqual([EVENTS, EVENTS]);
    const head = ({ headers }: IncomingMessage) => [headers['content-type'], headers['content-encoding'], headers.vary, headers['access-control-allow-origin']];
    expect(head(got.res)).toEqual(head(want.res));
    expect(head(got.res)).toEqual(['text/event-stream', encoding, 'Origin, Accept-Encoding', ORIGIN]);
  });

  it('a CORS preflight is answered by cors() before the mount', async () => {
    const preflight = await same('/json', [['access-control-request-method', 'PUT']], { method: 'OPTIONS' });
    expect([preflight.status, preflight.header('access-control-allow-methods'), preflight.header('access-control-max-age')]).toEqual([204, 'GET,HEAD,PUT,PATCH,POST,DELETE', '600']);
  });

  it("express-session's cookie joins the one the application sets, and the session keeps counting", async () => {
    const first = await same('/cookie');
    expect([first.status, first.text(), first.header('x-views')]).toEqual([201, 'made', '1']);
    expect(first.all('set-cookie').map((cookie) => cookie.split('=')[0]).sort()).toEqual(['lang', 'sid', 'theme']);
    const sid = first.all('set-cookie').find((cookie) => cookie.startsWith('sid='))!.split(';')[0]!;
    const second = await fetchRaw(server.url, `${prefix}/cookie`, { headers: [['cookie', sid]], agent });
    expect([second.header('x-views'), second.all('set-cookie')]).toEqual(['2', COOKIES]);
  });

  it("morgan logs the mounted response's status, length and URL with its prefix, as a native one's", async () => {
    await same(`/small?log=${prefix}`, [GZIP]);
    await same(`/json?log=${prefix}`, [GZIP]);
    const length = String(JSON.stringify(SMALL).length);
    expect(await logged(`${prefix}/small?log=${prefix}`)).toBe(`GET ${prefix}/small?log=${prefix} 200 ${length} -`);
    expect(await logged(`/native/small?log=${prefix}`)).toBe(`GET /native/small?log=${prefix} 200 ${length} -`);
    expect(await logged(`${prefix}/json?log=${prefix}`)).toBe(`GET ${prefix}/json?log=${prefix} 200 - gzip`);
    expect(await logged(`/native/json?log=${prefix}`)).toBe(`GET /native/json?log=${prefix} 200 - gzip`);
  });

  it('HEAD has the head of GET, uncompressed as compression() leaves HEAD, and no body', async () => {
    const head = await same('/json', [GZIP], { method: 'HEAD' });
    expect([head.status, head.header('content-encoding'), head.header('content-length'), head.body.length]).toEqual([200, undefined, String(JSON.stringify(BIG).length), 0]);
    const stream = await same('/stream', [GZIP], { method: 'HEAD' });
    expect([stream.header('content-length'), stream.header('transfer-encoding'), stream.body.length]).toEqual([undefined, undefined, 0]);
    expect((await same('/cookie', [], { method: 'HEAD' })).all('set-cookie')).toHaveLength(3);
  });

  it("a conditional GET: Express's 304 comes from res.send(), which a mounted application does not call (README)", async () => {
    const init = { headers: [FROM, ['if-none-match', TAG]] as [string, string][], agent };
    const [got, want] = await Promise.all([fetchRaw(server.url, `${prefix}/tagged`, init), fetchRaw(server.url, '/native/tagged', init)]);
    expect([want.status, want.body.length, want.header('etag')]).toEqual([304, 0, TAG]);
    expect([got.status, got.text(), got.header('etag')]).toEqual([200, TAGGED, TAG]);
  });

  it('a 404 with x-cascade: pass falls through to the next Express route, session and CORS still applied', async () => {
    const passed = await same('/elsewhere');
    expect([passed.status, passed.text(), passed.header('x-cascade'), passed.header('x-views')]).toEqual([200, 'the host answered', undefined, '1']);
  });
});

describe('an error in a mounted application', () => {
  it("before the head, the callable's error reaches the host's error handler, as a native route's next(error)", async () => {
    const at = handled.length;
    const [got, want] = await Promise.all(['/ngi/fail', '/native/fail'].map((path) => fetchRaw(server.url, path, { headers: [FROM], agent })));
    expect(view(got!)).toEqual(view(want!));
    expect([got!.status, got!.text(), handled.slice(at)]).toEqual([500, `handled: ${FAILURE}`, [FAILURE, FAILURE]]);
  });

  it('Fastify and Koa answer their own errors, as they do natively: the host sees a response, with its headers', async () => {
    const at = handled.length;
    const fastify = await fetchRaw(server.url, '/fastify/fail', { headers: [FROM], agent });
    expect([fastify.status, fastify.json().message, fastify.header('access-control-allow-origin')]).toEqual([500, FAILURE, ORIGIN]);
    const koa = await fetchRaw(server.url, '/koa/fail', { headers: [FROM], agent });
    expect([koa.status, koa.text(), koa.header('x-frame-options')]).toEqual([500, 'Internal Server Error', 'SAMEORIGIN']);
    expect(handled.slice(at)).toEqual([]);
  });
});

describe('a callable under compression() answers as a native route does when its whole body comes at once', () => {
  const app = express().use(compression({ threshold: 1024 }));
  app.use('/ngi', toExpress((environ, startResponse) => {
    const type: [string, string] = ['content-type', 'text/plain'];
    if (environ.PATH_INFO === '/not-modified') return (startResponse('304 Not Modified', [type, ['etag', '"v1"']]), []);
    if (environ.PATH_INFO === '/no-content') return (startResponse('204 No Content', [type]), []);
    if (environ.PATH_INFO === '/empty') return (startResponse('200 OK', [type]), []);
    startResponse('200 OK', [type]);
    return ['ok'];
  }, { errors: quiet }));
  app.get('/native/not-modified', (_req, res) => void res.status(304).type('text/plain').set('etag', '"v1"').end());
  app.get('/native/no-content', (_req, res) => void res.status(204).type('text/plain').end());
  app.get('/native/empty', (_req, res) => void res.type('text/plain').end());
  app.get('/native/tiny', (_req, res) => void res.type('text/plain').end('ok'));
  let served: ConformanceServer;
  beforeAll(async () => void (served = await listen(app)));
  afterAll(() => served.close());

  it.each(['/tiny', '/empty', '/not-modified', '/no-content'])('%s: under the threshold or without a body, it is not compressed', async (path) => {
    const init = { headers: [GZIP] };
    const [got, want] = await Promise.all([fetchRaw(served.url, '/ngi' + path, init), fetchRaw(served.url, '/native' + path, init)]);
    expect([got.status, got.header('content-encoding'), got.header('content-length'), got.body.toString()]).toEqual([
      want.status,
      want.header('content-encoding'),
      want.header('content-length'),
      want.body.toString(),
    ]);
  });
});

describe('a callable under compression() whose response another middleware ends', () => {
  it('§9.4 §9.5 its body is stopped and closed once, as without compression(), not left waiting for a drain that never comes', async () => {
    let closed = 0;
    let returned = 0;
    let endedByHost!: () => void;
    const ended = new Promise<void>((resolve) => (endedByHost = resolve));
    const app = express().use(compression({ threshold: 0 }));
    // A timeout middleware's answer: it ends the response while the body is still running.
    app.use((_req, res, next) => {
      setTimeout(() => (res.end(), endedByHost()), 100);
      next();
    });
    app.use('/ngi', toExpress((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      const body = (async function* () {
        try {
          // Incompressible, so zlib's output fills the socket, and writes wait for 'drain'.
          for (;;) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            yield randomBytes(64 * 1024);
          }
        } finally {
          returned++;
        }
      })();
      return Object.assign(body, { close: () => void closed++ });
    }, { errors: quiet }));
    const served = await listen(app);
    try {
      // A client that reads nothing, so the response stays full.
      const res = await open(served.url, '/ngi/x', { headers: [GZIP] });
      await ended;
      await new Promise((resolve) => setTimeout(resolve, 300));
      res.destroy();
      expect([returned, closed]).toEqual([1, 1]);
    } finally {
      await served.close();
    }
  });
});

describe('a multipart parser in the host before a mounted Express app that parses it too', () => {
  it('§4.3 the mounted app\'s multer reports why the body cannot be read, not a client that left', async () => {
    const memory = multer({ storage: multer.memoryStorage() });
    const inner = express()
      .post('/up', memory.single('file'), (_req, res) => void res.send('read'))
      .use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send(error.message));
    const host = express().use(memory.any()).use('/legacy', toExpress(fromExpress(inner)));
    const server = await listen(host);
    try {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(300_000)]), 'report.bin');
      const encoded = new Response(form);
      const body = Buffer.from(await encoded.arrayBuffer());
      const res = await fetchRaw(server.url, '/legacy/up', { method: 'POST', body, headers: { 'content-type': encoded.headers.get('content-type')! } });
      expect([res.status, res.text()]).toEqual([500, expect.stringMatching(/^toExpress: an earlier middleware already read the request body and left a req\.body/)]);
    } finally {
      await server.close();
    }
  });
});

