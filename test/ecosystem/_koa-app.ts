import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import bodyParser from '@koa/bodyparser';
import cors from '@koa/cors';
import Router from '@koa/router';
import { toExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { fromKoa } from '@ngi/koa';
import { toNodeListener } from '@ngi/node';
import express from 'express';
import Fastify from 'fastify';
import type Koa from 'koa';
import type { DefaultState, Middleware } from 'koa';
import compress from 'koa-compress';
import conditional from 'koa-conditional-get';
import etag from '@koa/etag';
import mount from 'koa-mount';
import session from 'koa-session';
import serveStatic from 'koa-static';
import type { RawResponse } from '../conformance/client.ts';
import { listen, through } from '../conformance/helpers.ts';
import { quietKoa } from '../../packages/koa/test/_helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';

export { errorsOf } from '../../packages/koa/test/_helpers.ts';

/** A file @koa/multer kept in memory. */
interface UploadedFile {
  originalname: string;
  mimetype: string;
  size: number;
  buffer: Buffer;
}

/**
 * @koa/multer, typed here: its @types augment Koa's `DefaultContext` with required `file` and
 * `files` for every file compiled with them, and then no middleware typed for a plain context fits.
 */
interface KoaMulter {
  (options: { storage: unknown; limits: { fileSize: number }; fileFilter: FileFilter }): { fields(fields: { name: string; maxCount: number }[]): Middleware };
  memoryStorage(): unknown;
}
type FileFilter = (req: unknown, file: unknown, accept: (error: null, take: boolean) => void) => void;
const multer = createRequire(import.meta.url)('@koa/multer') as KoaMulter;

/** The origin @koa/cors lets in; any other gets no Access-Control-Allow-Origin. */
export const ORIGIN = 'https://front.example';

/** A JSON document well over koa-compress's threshold and the 64 KiB toKoa buffers at once. */
export const LARGE = { items: Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', String(i % 7)] })) };

/** The text `/stream` sends in `STREAM_PARTS` chunks, one per turn of the event loop. */
export const STREAM_PART = 'streamed line of a body koa-compress pipes on\n'.repeat(400);
export const STREAM_PARTS = 8;

/** The body `/etag` sends, whose ETag @koa/etag computes. */
export const TAGGED = 'a body with a strong ETag\n'.repeat(80);

/**
 * The middleware a real Koa app is made of, in the order such apps use them; with a `prefix`,
 * each under koa-mount there. Not as a Koa app mounted whole: koa-mount runs a mounted app's
 * middleware on the outer context, which has neither its keys nor koa-session's `ctx.session`.
 */
export function ecosystemApp(staticRoot: string, prefix = ''): Koa {
  const app = quietKoa();
  app.keys = ['ecosystem key 2', 'ecosystem key 1'];
  // 'upload started' tells a test that multer is reading the file.
  const fileFilter: FileFilter = (_req, _file, accept) => void (app.emit('upload started'), accept(null, true));
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 1024 * 1024 }, fileFilter });
  const router = new Router();
  router.get('/session', (ctx) => {
    const count = Number(ctx.session!.count ?? 0) + 1;
    ctx.session!.count = count;
    ctx.body = { count };
  });
  router.post('/parsed', (ctx) => {
    ctx.body = { type: ctx.request.type, body: ctx.request.body };
  });
  router.post('/upload', upload.fields([{ name: 'file', maxCount: 1 }]), (ctx) => {
    const files = (ctx.request as typeof ctx.request & { files: Record<string, UploadedFile[]> }).files;
    const file = files.file![0]!;
    const sha256 = createHash('sha256').update(file.buffer).digest('hex');
    ctx.body = { fields: { ...(ctx.request.body as Record<string, string>) }, file: { name: file.originalname, type: file.mimetype, size: file.size, sha256 } };
  });
  router.get('/large', (ctx) => {
    ctx.body = LARGE;
  });
  router.get('/stream', (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = Readable.from(parts());
  });
  router.get('/endless', (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = Readable.from(endless(app));
  });
  router.get('/etag', (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = TAGGED;
  });
  const stack: Middleware<DefaultState, any>[] = [
    cors({ origin: (ctx) => (ctx.get('origin') === ORIGIN ? ORIGIN : ''), credentials: true, exposeHeaders: ['etag'], maxAge: 600 }),
    conditional(),
    etag(),
    compress({ threshold: 1024 }),
    session({ signed: true }, app),
    bodyParser(),
    router.routes(),
    router.allowedMethods(),
    serveStatic(staticRoot),
    (ctx) => {
      // What koa-static does not find comes here.
      ctx.status = 404;
      ctx.body = { missing: ctx.path };
    },
  ];
  for (const middleware of stack) app.use(prefix === '' ? middleware : mount(prefix, middleware));
  return app;
}

/** Streams until it is stopped, then says so with the app's 'stream stopped' event. */
async function* endless(app: Koa): AsyncGenerator<string> {
  try {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      yield STREAM_PART;
    }
  } finally {
    app.emit('stream stopped');
  }
}

/** `STREAM_PARTS` times `STREAM_PART`, each after a turn of the event loop. */
export async function* parts(): AsyncGenerator<string> {
  for (let i = 0; i < STREAM_PARTS; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    yield STREAM_PART;
  }
}

/** Headers that say when or over which connection, not what was answered. */
const CIRCUMSTANTIAL = new Set(['date', 'connection', 'keep-alive']);

/**
 * What a client sees of a response: status, headers by name less the `ignored` (the order of different names means
 * nothing, RFC 9110 §5.3), a cookie without its time-bound value, and the decoded body.
 */
export interface View {
  status: number;
  headers: [string, string][];
  body: string;
}

export function viewOf(res: RawResponse, ignored: string[] = []): View {
  const headers = res.headers
    .filter(([name]) => !CIRCUMSTANTIAL.has(name) && !ignored.includes(name))
    // koa-session's cookie holds its expiry time, and so does its signature: keep name and attributes.
    .map(([name, value]): [string, string] => [name, name === 'set-cookie' ? value.replace(/=[^;]*/, '=…').replace(/expires=[^;]*/, 'expires=…') : value])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const body = res.header('content-encoding') === 'gzip' ? gunzipSync(res.body) : res.body;
  return { status: res.status, headers, body: body.toString('utf8') };
}

/** The `name=value` pairs to send back as Cookie, from a response's Set-Cookie. */
export function cookiesOf(res: RawResponse): string {
  return res.all('set-cookie').map((cookie) => cookie.split(';')[0]).join('; ');
}

/** A multipart/form-data body with fields and one file, byte for byte the same for every server. */
export function multipart(boundary: string, fields: Record<string, string>, file: { name: string; type: string; bytes: Buffer }): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: ${file.type}\r\n\r\n`));
  parts.push(file.bytes, Buffer.from(`\r\n--${boundary}--\r\n`));
  return Buffer.concat(parts);
}

/** How the Koa app is served; `prefix` is where its root is. */
export interface Way {
  name: string;
  prefix: string;
  start(app: Koa): Promise<ConformanceServer>;
}

async function inFastify(app: Koa): Promise<ConformanceServer> {
  const fastify = Fastify();
  await fastify.register(fastifyNgi, { prefix: '/mnt', app: fromKoa(app) });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, close: () => fastify.close() };
}

export const WAYS: Way[] = [
  { name: 'natively', prefix: '', start: (app) => listen(app.callback()) },
  { name: 'as a callable', prefix: '', start: (app) => listen(toNodeListener(fromKoa(app))) },
  // Koa then runs on NGI's own IncomingMessage and ServerResponse.
  { name: 'as a callable behind a pass-through', prefix: '', start: (app) => listen(toNodeListener(through(fromKoa(app)))) },
  // X-Powered-By is the host's own header, not the Koa app's.
  { name: 'mounted in Express', prefix: '/mnt', start: (app) => listen(express().disable('x-powered-by').use('/mnt', toExpress(fromKoa(app)))) },
  { name: 'mounted in Fastify', prefix: '/mnt', start: inFastify },
];
