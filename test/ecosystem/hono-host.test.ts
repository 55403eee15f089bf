import { createHash, randomBytes } from 'node:crypto';
import { readBody, type Application } from '@ngi/core';
import { fromExpress } from '@ngi/express';
import { fromFetch, toFetch } from '@ngi/fetch';
import { serve } from '@ngi/node';
import express from 'express';
import { Hono } from 'hono';
import { compress } from 'hono/compress';
import { cors } from 'hono/cors';
import { mount } from 'hono/mount';
import { secureHeaders } from 'hono/secure-headers';
import { beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen, quiet } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';
import { nativeListener } from '../../packages/fetch/test/_native.ts';
import { view } from './_express-configs.ts';
import { gate } from '../fixtures/gate.ts';
import { firstChunk, ORIGIN, TEXT } from './_hono-app.ts';

const PLAIN = 'text/plain; charset=utf-8';
const COOKIES = ['theme=dark; Path=/; HttpOnly', 'lang=fr; Path=/; SameSite=Lax'];
const PARTS: [string, string] = ['the first part, sent before the gate opens\n', 'the second part\n'];
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
/** What `/echo` answers for an upload. */
const echoed = (bytes: Uint8Array) => JSON.stringify({ size: bytes.byteLength, sha256: sha256(bytes) });
/** By request id: the callable's `ngi.signal.reason`, or whether Express's response had finished when it closed. */
const aborts = new Map<string, unknown>();

/** A plain NGI callable. */
const callable: Application = (environ, startResponse) => {
  const [, route, id = ''] = environ.PATH_INFO.split('/');
  if (route === 'text') return (startResponse('200 OK', [['content-type', PLAIN]]), [TEXT]);
  if (route === 'cookies') return (startResponse('204 No Content', COOKIES.map((line) => ['set-cookie', line])), []);
  if (route === 'echo') return readBody(environ).then((bytes) => (startResponse('200 OK', [['content-type', 'application/json']]), [echoed(bytes)]));
  const signal = environ['ngi.signal'];
  if (route === 'hold') {
    // No response yet, so no body to cancel: only the request's signal can say the client left.
    gate(`${id}:arrived`).open();
    return new Promise((resolve) => signal.addEventListener('abort', () => (aborts.set(id, signal.reason), gate(`${id}:aborted`).open(), resolve([]))));
  }
  startResponse('200 OK', [['content-type', PLAIN]]);
  return (async function* () {
    yield PARTS[0];
    if (route === 'stream') return void (await gate(id).promise, yield PARTS[1]);
    // route 'wait': until the client leaves.
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    aborts.set(id, signal.reason);
    gate(`${id}:aborted`).open();
  })();
};

/** The same as an Express app. */
const legacy = express()
  .disable('x-powered-by')
  .set('etag', false)
  .get('/text', (_req, res) => void res.type(PLAIN).send(TEXT))
  .get('/cookies', (_req, res) => void res.setHeader('set-cookie', COOKIES).status(204).end())
  .post('/echo', express.raw({ type: () => true, limit: '1mb' }), (req, res) => void res.setHeader('content-type', 'application/json').send(Buffer.from(echoed(req.body as Buffer))))
  .get('/wait/:id', (req, res) => {
    // Closed before its end: what Express apps watch for a client that went away.
    res.on('close', () => (aborts.set(req.params.id, res.writableFinished), gate(`${req.params.id}:aborted`).open()));
    res.type(PLAIN).write(PARTS[0]);
  })
  .get('/stream/:id', async (req, res) => {
    res.type(PLAIN).write(PARTS[0]);
    await gate(req.params.id).promise;
    res.end(PARTS[1]);
  });

/** The same as native Hono routes. */
const native = new Hono()
  .get('/text', (c) => c.body(TEXT, 200, { 'content-type': PLAIN }))
  .get('/cookies', (c) => (COOKIES.forEach((line) => c.header('set-cookie', line, { append: true })), c.body(null, 204)))
  .post('/echo', async (c) => c.body(echoed(new Uint8Array(await c.req.arrayBuffer())), 200, { 'content-type': 'application/json' }))
  .get('/stream/:id', (c) => {
    const id = c.req.param('id');
    const body = new ReadableStream<string>({
      start: (controller) => controller.enqueue(PARTS[0]),
      pull: async (controller) => (await gate(id).promise, controller.enqueue(PARTS[1]), controller.close()),
    });
    return c.body(body.pipeThrough(new TextEncoderStream()), 200, { 'content-type': PLAIN });
  });

/** The Hono host: secure-headers, cors and compress around the three. */
function host(): Hono {
  return new Hono()
    .use(secureHeaders(), cors({ origin: ORIGIN, exposeHeaders: ['content-encoding'] }), compress())
    .all('/legacy/*', mount(toFetch(callable, { errors: quiet })))
    .all('/express/*', mount(toFetch(fromExpress(legacy), { errors: quiet })))
    .route('/native', native);
}

describe.each([
  { name: '@hono/node-server', start: (hono: Hono) => listen(nativeListener(hono.fetch)) },
  { name: 'serve(fromFetch(hono))', start: (hono: Hono) => serve(fromFetch(hono), { port: 0, errors: quiet }) },
])('an NGI callable and an Express app as fetch handlers, mounted in Hono under its middleware, on $name', ({ start }) => {
  let server: ConformanceServer;
  beforeAll(async () => {
    server = await start(host());
    return () => server.close();
  });
  let requests = 0;

  /** Asks the callable, the Express app and the native routes; each answer must match the native one. */
  async function same(path: string, init: RawRequest | (() => RawRequest) = {}, without: string[] = []): Promise<RawResponse> {
    const make = typeof init === 'function' ? init : () => init;
    const [want, ...got] = await Promise.all(['/native', '/legacy', '/express'].map((prefix) => fetchRaw(server.url, prefix + path, make())));
    for (const res of got) expect(view(res, without)).toEqual(view(want!, without));
    return want!;
  }

  it('compress, cors and secure-headers apply to what the mounted apps answer', async () => {
    const headers = { origin: ORIGIN, 'accept-encoding': 'gzip' };
    const text = await same('/text', { headers });
    expect([text.header('content-encoding'), text.header('access-control-allow-origin'), text.header('x-content-type-options'), text.body.length < TEXT.length / 4]).toEqual(['gzip', ORIGIN, 'nosniff', true]);
    const plain = await same('/text');
    expect([plain.header('content-encoding'), plain.text()]).toEqual([undefined, TEXT]);
    // Express declares the Content-Length a GET would have; Hono's own HEAD has none.
    const head = await same('/text', { method: 'HEAD', headers }, ['content-length']);
    expect([head.status, head.header('x-content-type-options'), head.body.length]).toEqual([200, 'nosniff', 0]);
    expect((await same('/cookies', { headers })).all('set-cookie')).toEqual(COOKIES);
  });

  it('the upload streams into the mounted apps, sized and chunked', async () => {
    const bytes = randomBytes(300_000);
    // Hono's compress adds `Vary` only where no Content-Length says the body is under its threshold, as Express's does.
    expect((await same('/echo', { method: 'POST', body: bytes }, ['vary'])).text()).toBe(echoed(bytes));
    const pieces = async function* () {
      for (let at = 0; at < bytes.length; at += 16_384) yield bytes.subarray(at, at + 16_384);
    };
    expect((await same('/echo', () => ({ method: 'POST', body: pieces() }), ['vary'])).text()).toBe(echoed(bytes));
  });

  it('the response body streams: its first part arrives before the app writes the second', async () => {
    const read = async (prefix: string) => {
      const id = `stream-${++requests}`;
      const res = await open(server.url, `${prefix}/stream/${id}`);
      const first = await firstChunk(res);
      gate(id).open();
      let rest = '';
      for await (const chunk of res) rest += String(chunk);
      return [prefix, res.headers['content-type'], first, rest, res.complete];
    };
    for (const prefix of ['/native', '/legacy', '/express']) expect(await read(prefix)).toEqual([prefix, PLAIN, ...PARTS, true]);
  });

  it("a client that leaves aborts the callable's ngi.signal (with an Error) and closes the Express response, through c.req.raw.signal", async () => {
    const leave = async (prefix: string) => {
      const id = `wait-${++requests}`;
      const res = await open(server.url, `${prefix}/wait/${id}`);
      expect(await firstChunk(res)).toBe(PARTS[0]);
      res.destroy();
      await gate(`${id}:aborted`).promise;
      return aborts.get(id);
    };
    expect(await leave('/legacy')).toBeInstanceOf(Error);
    const id = `hold-${++requests}`;
    const controller = new AbortController();
    const pending = open(server.url, `/legacy/hold/${id}`, { signal: controller.signal });
    await gate(`${id}:arrived`).promise;
    controller.abort();
    await expect(pending).rejects.toThrow();
    await gate(`${id}:aborted`).promise;
    expect(aborts.get(id)).toBeInstanceOf(Error);
    expect(await leave('/express')).toBe(false);
  });
});
