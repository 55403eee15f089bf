import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import compress from '@fastify/compress';
import helmet from '@fastify/helmet';
import { fromExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { fromKoa } from '@ngi/koa';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen } from '../conformance/helpers.ts';
import { staticRoot } from './_fastify-app.ts';

const files = staticRoot();

/** A plain Express app: a route, a JSON body parser, static files. */
const legacy = express()
  .use(express.json())
  .get('/hello', (_req, res) => void res.type('text/plain').send('hello from Express\n'.repeat(200)))
  .post('/echo', (req, res) => void res.json({ got: req.body, padding: 'x'.repeat(2000) }))
  .use('/files', express.static(files.root));

/** A Koa app: a large JSON body and a streamed one. */
const koa = new Koa().use((ctx) => {
  if (ctx.path === '/stream') {
    ctx.type = 'text/plain';
    ctx.body = Readable.from(Array.from({ length: 100 }, (_, i) => `koa line ${i}\n`));
  } else ctx.body = { path: ctx.path, items: Array.from({ length: 500 }, (_, i) => i) };
});

/** The Fastify app hosting both, with @fastify/compress and @fastify/helmet on every response. */
async function host(direct = false): Promise<FastifyInstance> {
  const fastify = Fastify();
  await fastify.register(helmet, { global: true });
  await fastify.register(compress, { global: true, threshold: 1024 });
  await fastify.register(fastifyNgi, { prefix: '/express', app: fromExpress(legacy), direct });
  await fastify.register(fastifyNgi, { prefix: '/koa', app: fromKoa(koa) });
  return fastify;
}

const hosts: FastifyInstance[] = [];
const urls = { host: '', direct: '', express: '', koa: '' };
const closing: (() => Promise<void>)[] = [];
beforeAll(async () => {
  hosts.push(await host(), await host(true));
  urls.host = await hosts[0]!.listen({ port: 0, host: '127.0.0.1' });
  urls.direct = await hosts[1]!.listen({ port: 0, host: '127.0.0.1' });
  const [express, koaApp] = await Promise.all([listen(legacy), listen(koa.callback())]);
  [urls.express, urls.koa] = [express.url, koaApp.url];
  closing.push(express.close, koaApp.close);
});
afterAll(async () => {
  await Promise.all([...hosts.map((fastify) => fastify.close()), ...closing.map((close) => close())]);
  files.remove();
});

const GZIP: [string, string] = ['accept-encoding', 'gzip'];

/** The response through the host, and the same request to the app on its own server. */
async function hosted(app: 'express' | 'koa', path: string, init: RawRequest = {}): Promise<{ res: RawResponse; native: RawResponse }> {
  const res = await fetchRaw(urls.host, `/${app}${path}`, { ...init, headers: [GZIP, ...((init.headers ?? []) as [string, string][])] });
  return { res, native: await fetchRaw(urls[app], path, init) };
}

function expectHelmet(res: RawResponse): void {
  expect(res.header('content-security-policy')).toContain("default-src 'self'");
  expect([res.header('x-frame-options'), res.header('x-content-type-options'), res.header('strict-transport-security')]).toEqual(['SAMEORIGIN', 'nosniff', 'max-age=31536000; includeSubDomains']);
}

/** Compressed by @fastify/compress, the app's own headers kept, and the body the app sends natively. */
function expectCompressed({ res, native }: { res: RawResponse; native: RawResponse }): void {
  expectHelmet(res);
  expect([res.status, res.header('content-encoding'), res.header('vary')]).toEqual([native.status, 'gzip', 'accept-encoding']);
  expect([res.header('content-type'), res.header('etag')]).toEqual([native.header('content-type'), native.header('etag')]);
  expect(gunzipSync(res.body).toString()).toBe(native.text());
}

describe('Express and Koa apps mounted in a Fastify app with @fastify/compress and @fastify/helmet (fastifyNgi)', () => {
  it('Express: a route, a JSON body, a static file: compressed, with helmet headers', async () => {
    expectCompressed(await hosted('express', '/hello'));
    const json = { headers: [['content-type', 'application/json']] as [string, string][], method: 'POST', body: '{"name":"ann"}' };
    const echo = await hosted('express', '/echo', json);
    expectCompressed(echo);
    expect(JSON.parse(gunzipSync(echo.res.body).toString()).got).toEqual({ name: 'ann' });
    expectCompressed(await hosted('express', '/files/notes.txt'));
  });

  it("Express: HEAD, and Fastify's not-found handler for a path Express has no route for; X-Powered-By is Express's", async () => {
    const head = await hosted('express', '/hello', { method: 'HEAD' });
    expectHelmet(head.res);
    // Not compressed, as @fastify/compress leaves the HEAD of a Fastify route (and compression() Express's).
    expect([head.res.status, head.res.header('content-encoding'), head.res.header('content-length')]).toEqual([200, undefined, head.native.header('content-length')]);
    const missing = await hosted('express', '/nothing');
    expectHelmet(missing.res);
    expect([missing.res.status, JSON.parse(missing.res.text()).message]).toEqual([404, 'Route GET:/express/nothing not found']);
    // Helmet removes it on Fastify's onRequest, before the app runs; the app's own headers are kept (@ngi/fastify README).
    expect(head.res.header('x-powered-by')).toBe('Express');
  });

  it('Express: a gzip-encoded JSON body reaches express.json() decoded by @fastify/compress', async () => {
    const gzipped = await hosted('express', '/echo', { method: 'POST', headers: [['content-type', 'application/json'], ['content-encoding', 'gzip']], body: gzipSync('{"name":"ann"}') });
    expect(JSON.parse(gunzipSync(gzipped.res.body).toString()).got).toEqual({ name: 'ann' });
  });

  it("Express: a Range and a 304 from express.static keep their status, uncompressed, with helmet's headers", async () => {
    const range = await hosted('express', '/files/notes.txt', { headers: [['range', 'bytes=0-9']] });
    expect([range.res.status, range.res.header('content-range'), range.res.text()]).toEqual([206, range.native.header('content-range'), range.native.text()]);
    const etag = range.native.header('etag')!;
    const cached = await hosted('express', '/files/notes.txt', { headers: [['if-none-match', etag]] });
    expect([cached.res.status, cached.res.body.length, cached.native.status]).toEqual([304, 0, 304]);
    expectHelmet(range.res), expectHelmet(cached.res);
  });

  it('Koa: a JSON body and a stream: compressed, with helmet headers', async () => {
    expectCompressed(await hosted('koa', '/report'));
    expectCompressed(await hosted('koa', '/stream'));
  });

  it('with direct: true the Express app answers on Fastify\'s own res: helmet applies, @fastify/compress does not (documented)', async () => {
    const res = await fetchRaw(urls.direct, '/express/hello', { headers: [GZIP] });
    expectHelmet(res);
    expect([res.status, res.header('content-encoding'), res.text()]).toEqual([200, undefined, 'hello from Express\n'.repeat(200)]);
  });
});
