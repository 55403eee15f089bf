import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import type Koa from 'koa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen } from '../conformance/helpers.ts';
import { koaMajor } from '../fixtures/versions.ts';
import type { ConformanceServer } from '../conformance/suite.ts';
import { LARGE, ORIGIN, STREAM_PART, STREAM_PARTS, TAGGED, WAYS, cookiesOf, ecosystemApp, errorsOf, multipart, viewOf } from './_koa-app.ts';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'ngi-koa-static-'));
  writeFileSync(join(root, 'hello.txt'), 'hello from koa-static\n'.repeat(100));
  // Last-Modified and @koa/etag's weak ETag come from the file's mtime: the same for every run.
  utimesSync(join(root, 'hello.txt'), new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const UPLOAD = randomBytes(300 * 1024);
const BOUNDARY = '----ngi-ecosystem-boundary';
const FORM = multipart(BOUNDARY, { title: 'report', note: 'été ✓' }, { name: 'data.bin', type: 'application/octet-stream', bytes: UPLOAD });

describe.each(WAYS)('a Koa app of common middleware, $name', (way) => {
  let served: ConformanceServer;
  let native: ConformanceServer;
  const apps: Koa[] = [];
  // Kept-alive connections: a client that closes its own can make Koa's pipeline of a file
  // report "Premature close" when the close arrives before the response's 'finish'.
  const agent = new Agent({ keepAlive: true });
  beforeAll(async () => {
    // The reference for a mounted app: the same middleware under koa-mount at that prefix.
    apps.push(ecosystemApp(root), ecosystemApp(root, way.prefix));
    [served, native] = await Promise.all([way.start(apps[0]!), listen(apps[1]!.callback())]);
  });
  afterAll(() => (agent.destroy(), Promise.all([served?.close(), native?.close()])));
  afterEach(() => expect(apps.flatMap((app) => errorsOf(app).map((error) => error.message))).toEqual([]));

  /** The request to both servers: what the client sees, less the `ignored` headers, must be the same. */
  async function same(path: string, init: RawRequest = {}, ignored: string[] = []): Promise<RawResponse> {
    const headers: [string, string][] = [['host', 'app.example'], ...((init.headers ?? []) as [string, string][])];
    const [got, want] = await Promise.all([
      fetchRaw(served.url, way.prefix + path, { ...init, headers, agent }),
      fetchRaw(native.url, way.prefix + path, { ...init, headers, agent }),
    ]);
    expect(viewOf(got, ignored)).toEqual(viewOf(want, ignored));
    return got;
  }

  it('koa-session keeps a counter across requests in its signed cookies, and refuses a forged one', async () => {
    let cookie = '';
    for (const count of [1, 2, 3]) {
      const res = await same('/session', { headers: cookie === '' ? [] : [['cookie', cookie]] });
      expect(res.json()).toEqual({ count });
      expect(res.all('set-cookie').map((value) => value.split('=')[0])).toEqual(['koa.sess', 'koa.sess.sig']);
      cookie = cookiesOf(res);
    }
    // A session whose signature does not match is a new session.
    const forged = cookie.replace(/koa\.sess\.sig=[^;]*/, 'koa.sess.sig=forged');
    expect((await same('/session', { headers: [['cookie', forged]] })).json()).toEqual({ count: 1 });
  });

  it('@koa/cors answers a preflight, and marks a simple request for its origin only', async () => {
    const preflight = await same('/parsed', {
      method: 'OPTIONS',
      headers: [['origin', ORIGIN], ['access-control-request-method', 'PUT'], ['access-control-request-headers', 'content-type, x-trace']],
    });
    expect(preflight.status).toBe(204);
    expect(preflight.header('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.header('access-control-allow-headers')).toBe('content-type, x-trace');
    expect(preflight.header('access-control-max-age')).toBe('600');
    const simple = await same('/etag', { headers: [['origin', ORIGIN]] });
    expect([simple.header('access-control-allow-origin'), simple.header('access-control-allow-credentials')]).toEqual([ORIGIN, 'true']);
    expect(simple.header('access-control-expose-headers')).toBe('etag');
    expect((await same('/etag', { headers: [['origin', 'https://other.example']] })).header('access-control-allow-origin')).toBeUndefined();
  });

  it('koa-static sends a file, answers HEAD without a body, a 304 for its ETag, and lets a missing file through', async () => {
    const file = await same('/hello.txt');
    expect([file.status, file.header('content-type'), file.header('last-modified')]).toEqual([200, 'text/plain; charset=utf-8', 'Tue, 02 Jan 2024 03:04:05 GMT']);
    expect(file.text()).toBe('hello from koa-static\n'.repeat(100));
    const head = await same('/hello.txt', { method: 'HEAD' });
    expect([head.status, head.header('content-length'), head.body.length]).toEqual([200, '2200', 0]);
    expect((await same('/hello.txt', { headers: [['if-none-match', file.header('etag')!]] })).status).toBe(304);
    const missing = await same('/missing.txt');
    expect([missing.status, missing.json()]).toEqual([404, { missing: '/missing.txt' }]);
  });

  it('koa-conditional-get and @koa/etag answer 304 for a matching If-None-Match, 200 for another', async () => {
    const first = await same('/etag');
    expect([first.status, first.text()]).toEqual([200, TAGGED]);
    const tag = first.header('etag')!;
    expect(tag).toMatch(/^"/);
    const cached = await same('/etag', { headers: [['if-none-match', tag]] });
    expect([cached.status, cached.body.length, cached.header('etag')]).toEqual([304, 0, tag]);
    expect((await same('/etag', { headers: [['if-none-match', '"other"']] })).status).toBe(200);
  });

  it('@koa/multer reads a multipart upload of 300 KiB of random bytes and its fields', async () => {
    const res = await same('/upload', { method: 'POST', headers: [['content-type', `multipart/form-data; boundary=${BOUNDARY}`]], body: FORM });
    const sha256 = createHash('sha256').update(UPLOAD).digest('hex');
    expect(res.json()).toEqual({ fields: { title: 'report', note: 'été ✓' }, file: { name: 'data.bin', type: 'application/octet-stream', size: UPLOAD.length, sha256 } });
  });

  it('@koa/multer reads the same upload sent chunked', async () => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < FORM.length; at += 16 * 1024) yield FORM.subarray(at, at + 16 * 1024);
    }
    const headers: [string, string][] = [['content-type', `multipart/form-data; boundary=${BOUNDARY}`]];
    const res = await same('/upload', { method: 'POST', headers, body: { [Symbol.asyncIterator]: chunks } });
    expect(res.json().file).toMatchObject({ size: UPLOAD.length, sha256: createHash('sha256').update(UPLOAD).digest('hex') });
  });

  it('@koa/bodyparser parses JSON and a form', async () => {
    const json = await same('/parsed', { method: 'POST', headers: [['content-type', 'application/json']], body: '{"a":[1,2],"é":"✓"}' });
    expect(json.json()).toEqual({ type: 'application/json', body: { a: [1, 2], é: '✓' } });
    const form = await same('/parsed', { method: 'POST', headers: [['content-type', 'application/x-www-form-urlencoded']], body: 'a=1&b=%C3%A9t%C3%A9&b=2' });
    expect(form.json()).toEqual({ type: 'application/x-www-form-urlencoded', body: { a: '1', b: ['été', '2'] } });
  });

  it('errors keep their CORS headers: a malformed JSON body is a 400, one over the limit a 413, an upload over multer\'s limit a 500', async () => {
    const json: [string, string][] = [['origin', ORIGIN], ['content-type', 'application/json']];
    const malformed = await same('/parsed', { method: 'POST', headers: json, body: '{"a":' });
    expect([malformed.status, malformed.header('access-control-allow-origin')]).toEqual([400, ORIGIN]);
    const large = await same('/parsed', { method: 'POST', headers: json, body: JSON.stringify({ a: 'x'.repeat(1024 * 1024) }) });
    expect([large.status, large.text()]).toEqual([413, 'request entity too large']);
    const big = randomBytes(1024 * 1024 + 200 * 1024);
    const form = multipart(BOUNDARY, {}, { name: 'big.bin', type: 'application/octet-stream', bytes: big });
    const upload = await same('/upload', { method: 'POST', headers: [['origin', ORIGIN], ['content-type', `multipart/form-data; boundary=${BOUNDARY}`]], body: form });
    expect([upload.status, upload.header('access-control-allow-origin')]).toEqual([500, ORIGIN]);
    // Koa reports each error it answered, the same from both servers.
    const reported = ['Unexpected end of JSON input', 'request entity too large', 'File too large'];
    expect(apps.map((app) => errorsOf(app).splice(0).map((error) => error.message))).toEqual([reported, reported]);
  });

  it('koa-compress gzips a large JSON body and a streamed one', async () => {
    const large = await same('/large', { headers: [['accept-encoding', 'gzip']] });
    expect([large.header('content-encoding'), large.header('vary')]).toEqual(['gzip', 'Origin, Accept-Encoding']);
    expect(JSON.parse(viewOf(large).body)).toEqual(LARGE);
    const stream = await same('/stream', { headers: [['accept-encoding', 'gzip']] });
    expect([stream.header('content-encoding'), stream.header('transfer-encoding')]).toEqual(['gzip', 'chunked']);
    expect(viewOf(stream).body).toBe(STREAM_PART.repeat(STREAM_PARTS));
    // Without Accept-Encoding, the body as it is.
    expect((await same('/large')).json()).toEqual(LARGE);
  });

  it('koa-compress streams brotli; under Fastify a body brotli gives out only at its end goes out whole', async () => {
    // Brotli keeps this body until it ends: its head and all of it come in one turn of the event
    // loop, which fastifyNgi hands to reply.send() whole, with a Content-Length, not chunked.
    const fastify = way.name === 'mounted in Fastify';
    const br = await same('/stream', { headers: [['accept-encoding', 'br']] }, fastify ? ['content-length', 'transfer-encoding'] : []);
    expect(br.header('content-encoding')).toBe('br');
    expect(br.header('transfer-encoding') ?? `content-length ${br.header('content-length')}`).toBe(fastify ? `content-length ${br.body.length}` : 'chunked');
    expect(brotliDecompressSync(br.body).toString()).toBe(STREAM_PART.repeat(STREAM_PARTS));
  });

  it('a client that leaves mid-download stops the stream, one that leaves mid-upload stops multer, and the server goes on', async () => {
    for (const [url, app] of [[served.url, apps[0]!], [native.url, apps[1]!]] as const) {
      // Not events.once: Koa's 'error' events would reject it.
      const stopped = new Promise((resolve) => app.once('stream stopped', resolve));
      for await (const _ of await open(url, way.prefix + '/endless')) break;
      await stopped;
      const started = new Promise((resolve) => app.once('upload started', resolve));
      const aborted = new Promise<void>((resolve) => app.on('error', (error: Error) => void (error.message === 'Request aborted' && resolve())));
      async function* cut(): AsyncGenerator<Uint8Array> {
        yield FORM.subarray(0, 100 * 1024);
        await started;
        throw new Error('the client left');
      }
      const headers: [string, string][] = [['content-type', `multipart/form-data; boundary=${BOUNDARY}`], ['content-length', String(FORM.length)]];
      await expect(open(url, way.prefix + '/upload', { method: 'POST', headers, body: cut() })).rejects.toThrow('the client left');
      await aborted;
      // Natively Koa also reports the socket's own error (on-finished listens on it); under NGI,
      // Koa's request is on a connection-less socket, and the client leaving is a close. Koa 2
      // pipes a body with .pipe(), which reports no premature close.
      const reported = koaMajor >= 3 ? ['Premature close', 'Request aborted'] : ['Request aborted'];
      expect(errorsOf(app).splice(0).map((error) => error.message)).toEqual(expect.arrayContaining(reported));
    }
    expect((await same('/etag')).status).toBe(200);
  });
});
