import { Agent } from 'node:http';
import { Readable } from 'node:stream';
import { readBody, type Application } from '@ngi/core';
import { fromExpress } from '@ngi/express';
import { toKoa } from '@ngi/koa';
import bodyParser from '@koa/bodyparser';
import cors from '@koa/cors';
import express from 'express';
import type { Middleware } from 'koa';
import compress from 'koa-compress';
import conditional from 'koa-conditional-get';
import etag from '@koa/etag';
import mount from 'koa-mount';
import session from 'koa-session';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';
import { quietKoa } from '../../packages/koa/test/_helpers.ts';
import { ORIGIN, STREAM_PART, STREAM_PARTS, cookiesOf, errorsOf, parts, viewOf } from './_koa-app.ts';

const TEXT = 'a whole body over koa-compress\'s threshold\n'.repeat(100);
/** One chunk over the 64 KiB toKoa gathers from several: still a whole body, tagged. */
const LARGE_TEXT = 'one large chunk\n'.repeat(20_000);
const SMALL = { small: true };
const PLAIN = 'text/plain; charset=utf-8';

/** The same answers as an NGI callable, as an Express app, and as Koa middleware. */
const callable: Application = (environ, startResponse) => {
  switch (environ.PATH_INFO) {
    case '/text':
      startResponse('200 OK', [['content-type', PLAIN]]);
      return [TEXT];
    case '/large':
      startResponse('200 OK', [['content-type', PLAIN]]);
      return [LARGE_TEXT];
    case '/small':
      startResponse('200 OK', [['content-type', 'application/json; charset=utf-8']]);
      return [JSON.stringify(SMALL)];
    case '/stream':
      startResponse('200 OK', [['content-type', PLAIN]]);
      return parts();
    case '/echo':
      return readBody(environ).then((bytes) => {
        startResponse('200 OK', [['content-type', 'application/json; charset=utf-8']]);
        return [JSON.stringify({ received: JSON.parse(Buffer.from(bytes).toString()) })];
      });
    case '/elsewhere':
      startResponse('404 Not Found', [['content-type', PLAIN], ['x-cascade', 'pass']]);
      return ['not mine'];
    default:
      startResponse('201 Created', [['content-type', PLAIN], ['set-cookie', 'theme=dark; Path=/']]);
      return ['made'];
  }
};

// Express's own ETag and X-Powered-By are off: the ETag is to come from @koa/etag, as for the others.
const expressApp = express()
  .disable('x-powered-by')
  .set('etag', false)
  .get('/text', (_req, res) => void res.type('text/plain').send(TEXT))
  .get('/small', (_req, res) => void res.json(SMALL))
  .get('/large', (_req, res) => void res.type('text/plain').send(LARGE_TEXT))
  .get('/stream', async (_req, res) => {
    res.type('text/plain');
    for await (const part of parts()) res.write(part);
    res.end();
  })
  .post('/echo', express.json(), (req, res) => void res.json({ received: req.body }))
  .get('/cookie', (_req, res) => void res.status(201).cookie('theme', 'dark').type('text/plain').send('made'));

const native: Middleware = async (ctx, next) => {
  if (ctx.path === '/elsewhere') await next();
  else if (ctx.path === '/echo') ctx.body = { received: ctx.request.body };
  else if (ctx.path === '/text') [ctx.type, ctx.body] = [PLAIN, TEXT];
  else if (ctx.path === '/small') ctx.body = SMALL;
  else if (ctx.path === '/large') [ctx.type, ctx.body] = [PLAIN, LARGE_TEXT];
  else if (ctx.path === '/stream') [ctx.type, ctx.body] = [PLAIN, Readable.from(parts())];
  else [ctx.status, ctx.type, ctx.body] = [201, PLAIN, 'made'], ctx.append('set-cookie', 'theme=dark; Path=/');
};

/** A Koa app with the usual middleware upstream, and the three answering under their prefixes. */
function host() {
  const app = quietKoa();
  app.keys = ['host key'];
  app
    .use(cors({ origin: (ctx) => (ctx.get('origin') === ORIGIN ? ORIGIN : ''), credentials: true, exposeHeaders: ['etag'] }))
    // @koa/etag tags only a whole body: outside koa-compress it would find the gzip stream.
    .use(compress({ threshold: 1024 }))
    .use(conditional())
    .use(etag())
    .use(session(app))
    .use(bodyParser())
    .use(async (ctx, next) => {
      const views = Number(ctx.session!.views ?? 0) + 1;
      ctx.session!.views = views;
      ctx.set('x-views', String(views));
      await next();
    })
    .use(mount('/ngi', toKoa(callable)))
    .use(mount('/express', toKoa(fromExpress(expressApp))))
    .use(mount('/native', native))
    .use((ctx) => void (ctx.body = 'the host answered'));
  return app;
}

describe.each([
  { name: 'a plain callable', prefix: '/ngi' },
  { name: 'an Express app through fromExpress', prefix: '/express' },
])('$name mounted with toKoa under koa-session, @koa/etag, koa-compress and @koa/cors', ({ prefix }) => {
  const app = host();
  let server: ConformanceServer;
  // Kept-alive connections, so no client closes one before Koa's pipeline sees the response finish.
  const agent = new Agent({ keepAlive: true });
  beforeAll(async () => void (server = await listen(app.callback())));
  afterAll(() => (agent.destroy(), server.close()));
  afterEach(() => expect(errorsOf(app).map((error) => error.message)).toEqual([]));

  /** The request to the mounted application and to the native middleware: the client must see the same. */
  async function same(path: string, headers: [string, string][] = [], more: RawRequest = {}, ignored: string[] = []): Promise<RawResponse> {
    const init = { ...more, headers: [['origin', ORIGIN], ['accept-encoding', 'gzip'], ...headers] as [string, string][], agent };
    const [got, want] = await Promise.all([fetchRaw(server.url, prefix + path, init), fetchRaw(server.url, '/native' + path, init)]);
    expect(viewOf(got, ignored)).toEqual(viewOf(want, ignored));
    return got;
  }

  it('a whole body is compressed, tagged, and a 304 for its ETag; CORS headers and Vary are kept', async () => {
    const text = await same('/text');
    expect([text.header('content-encoding'), text.header('vary'), text.header('access-control-allow-origin')]).toEqual(['gzip', 'Origin, Accept-Encoding', ORIGIN]);
    expect(viewOf(text).body).toBe(TEXT);
    const tag = text.header('etag')!;
    expect(tag).toMatch(/^"/);
    const cached = await same('/text', [['if-none-match', tag]]);
    expect([cached.status, cached.body.length, cached.header('etag')]).toEqual([304, 0, tag]);
    const large = await same('/large');
    expect([large.header('content-encoding'), viewOf(large).body === LARGE_TEXT]).toEqual(['gzip', true]);
    expect((await same('/large', [['if-none-match', large.header('etag')!]])).status).toBe(304);
    const small = await same('/small');
    expect([small.header('content-encoding'), small.header('content-length'), small.json()]).toEqual([undefined, '14', SMALL]);
    expect((await same('/small', [['if-none-match', small.header('etag')!]])).status).toBe(304);
  });

  it('a streamed body is compressed as it comes, untagged', async () => {
    const stream = await same('/stream');
    expect([stream.header('content-encoding'), stream.header('transfer-encoding'), stream.header('etag')]).toEqual(['gzip', 'chunked', undefined]);
    expect(viewOf(stream).body).toBe(STREAM_PART.repeat(STREAM_PARTS));
  });

  it('koa-session keeps counting, and its cookies join the one the application sets', async () => {
    const first = await same('/cookie');
    expect([first.status, first.header('x-views')]).toEqual([201, '1']);
    expect(first.all('set-cookie').map((cookie) => cookie.split('=')[0])).toEqual(['theme', 'koa.sess', 'koa.sess.sig']);
    const session = cookiesOf(first).replace('theme=dark; ', '');
    expect((await same('/cookie', [['cookie', session]])).header('x-views')).toBe('2');
  });

  it('HEAD has the head of GET, less the ETag @koa/etag derives from a body not produced for HEAD (§10.3)', async () => {
    const ignored = ['etag', 'content-length'];
    const head = await same('/text', [], { method: 'HEAD' }, ignored);
    // Express declares the Content-Length of what it would send; the plain callable declares none.
    const length = prefix === '/express' ? String(TEXT.length) : undefined;
    expect([head.status, head.body.length, head.header('etag'), head.header('content-length')]).toEqual([200, 0, undefined, length]);
  });

  it('a JSON body @koa/bodyparser read upstream is handed over', async () => {
    const body = JSON.stringify({ name: 'été ✓', list: [1, 2] });
    const echo = await same('/echo', [['content-type', 'application/json']], { method: 'POST', body });
    expect(echo.json()).toEqual({ received: JSON.parse(body) });
  });

  it('a request the application passes on goes to the next Koa middleware, session and CORS still applied', async () => {
    const passed = await same('/elsewhere');
    expect([passed.status, passed.text(), passed.header('access-control-allow-origin'), passed.header('x-views')]).toEqual([200, 'the host answered', ORIGIN, '1']);
    expect(passed.all('set-cookie').map((cookie) => cookie.split('=')[0])).toEqual(['koa.sess', 'koa.sess.sig']);
  });
});
