import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import type { PassThrough } from 'node:stream';
import { brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { mount, type Application } from '@ngi/core';
import { toExpress } from '@ngi/express';
import { fromFastify } from '@ngi/fastify';
import { toKoa } from '@ngi/koa';
import { serve, toNodeListener } from '@ngi/node';
import express from 'express';
import type { FastifyInstance } from 'fastify';
import Koa from 'koa';
import koaMount from 'koa-mount';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen, quiet, through } from '../conformance/helpers.ts';
import type { ConformanceServer as Running } from '../conformance/suite.ts';
import { FILE_LIMIT, eventStreams, fastifyApp, multipartBody, randomFile, staticRoot } from './_fastify-app.ts';

/** What a client sees of a response, less the fields each server sets for itself. */
interface Seen {
  status: number;
  headers: [string, string][];
  body: string;
}

const PREFIX = '/mnt';
const files = staticRoot();
const apps: FastifyInstance[] = [];
const app = (prefix = ''): FastifyInstance => {
  const fastify = fastifyApp(files.root, prefix);
  apps.push(fastify);
  return fastify;
};

async function served(callable: Application): Promise<Running> {
  const handle = await serve(callable, { port: 0, errors: quiet });
  return { url: handle.url, close: () => handle.close() };
}

/** A mounted app does not know the prefix a host put it under, so its redirects leave it out (@ngi/fastify README). */
function appRelativeLocation(native: Seen): void {
  native.headers = native.headers.map(([name, value]) => [name, name === 'location' ? value.replace(PREFIX, '') : value]);
}

/**
 * Each way the application runs through NGI: `prefix` is where its root is, and the native
 * app is registered under it; `adjust` states what is documented to differ.
 */
const CONFIGS: { name: string; prefix: string; start(): Promise<Running>; normalizes?: boolean; redirects?: boolean; adjust?(native: Seen, ngi: Seen): void }[] = [
  { name: 'serve(fromFastify(app))', prefix: '', start: () => served(fromFastify(app())) },
  // A middleware in between: Fastify runs on NGI's own IncomingMessage and ServerResponse.
  { name: 'toNodeListener(middleware(fromFastify(app)))', prefix: '', start: () => listen(toNodeListener(through(fromFastify(app())), { errors: quiet })) },
  // mount() dispatches the path normalized (@ngi/core README): no `..` or `//` reaches the app.
  { name: 'mount() of @ngi/core', prefix: PREFIX, start: () => served(mount({ [PREFIX]: fromFastify(app()) }, { rewriteRedirects: true })), normalizes: true },
  {
    name: 'Express, toExpress()',
    prefix: PREFIX,
    // Express's own X-Powered-By is the host's header, not the application's.
    start: () => listen(express().disable('x-powered-by').use(PREFIX, toExpress(fromFastify(app()), { errors: quiet }))),
    // Express routes on the path as sent: one not in normal form is redirected to it (@ngi/express README).
    redirects: true,
    adjust: appRelativeLocation,
  },
  {
    name: 'Koa, toKoa() under koa-mount',
    prefix: PREFIX,
    start() {
      // Koa reports a client gone mid-upload itself (its onFinished listener), as for any Koa app.
      const koa = new Koa().on('error', () => {});
      return listen(koa.use(koaMount(PREFIX, toKoa(fromFastify(app()), { errors: quiet }))).callback());
    },
    // Koa routes on the path as sent: one not in normal form is redirected to it (@ngi/koa README).
    redirects: true,
    adjust(native, ngi) {
      appRelativeLocation(native);
      // A body that ends within one turn becomes a Koa body with its Content-Length (@ngi/koa README): framing only.
      if (native.headers.some(([name]) => name === 'transfer-encoding') && !ngi.headers.some(([name]) => name === 'transfer-encoding')) {
        for (const seen of [native, ngi]) seen.headers = seen.headers.filter(([name]) => name !== 'transfer-encoding' && name !== 'content-length');
      }
    },
  },
];

/** The application natively: at the root, and registered under the prefix the mounts use. */
const natives: Record<string, string> = {};
beforeAll(async () => {
  for (const prefix of ['', PREFIX]) natives[prefix] = await app(prefix).listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await Promise.all(apps.map((fastify) => fastify.close()));
  files.remove();
});

const SERVER_FIELDS = new Set(['date', 'connection', 'keep-alive']);
/** The fields the application set, in order, names lower-cased. */
const fields = (status: number, headers: [string, string][]): [string, string][] =>
  // §10.4: a 204 carries no Content-Length; Fastify sends `content-length: 0`, NGI drops it.
  headers.filter(([name]) => !SERVER_FIELDS.has(name) && !(status === 204 && name === 'content-length'));
const seen = (res: RawResponse): Seen => ({ status: res.status, headers: fields(res.status, res.headers), body: res.body.toString('latin1') });

describe.each(CONFIGS)('Fastify plugins natively and through $name', (config) => {
  let running: Running;
  // Connections are kept alive and reused, as browsers and HTTP clients do.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  beforeAll(async () => void (running = await config.start()));
  afterAll(() => (agent.destroy(), running.close()));

  /** Sends the same request natively and through NGI, expects the same response, returns the native one. */
  async function same(path: string, init: RawRequest = {}): Promise<RawResponse> {
    const request = { ...init, agent, headers: [['host', 'app.example'] as [string, string], ...((init.headers ?? []) as [string, string][])] };
    const native = await fetchRaw(natives[config.prefix]!, config.prefix + path, request);
    const [expected, actual] = [seen(native), seen(await fetchRaw(running.url, config.prefix + path, request))];
    config.adjust?.(expected, actual);
    expect(actual).toEqual(expected);
    return native;
  }

  /** The Location of the 308 the host answers `path` with, through NGI only. */
  async function location(path: string): Promise<string | undefined> {
    const res = await fetchRaw(running.url, path, { agent });
    expect(res.status).toBe(308);
    return res.header('location');
  }

  it('@fastify/multipart: request.parts() streams two files and fields; each file is checksummed as the route saw it', async () => {
    const [photo, notes] = [randomFile(300 * 1024), randomFile(120 * 1024)];
    const { body, type } = await multipartBody({ title: 'holiday', note: 'été ✓' }, { photo: photo.bytes, 'notes ✓': notes.bytes });
    const res = await same('/upload/parts', { method: 'POST', headers: [['content-type', type]], body });
    expect(res.json()).toMatchObject({
      fields: { title: 'holiday', note: 'été ✓' },
      files: [
        { field: 'photo', size: photo.bytes.length, sha256: photo.sha256 },
        { field: 'notes ✓', filename: 'notes ✓.bin', size: notes.bytes.length, sha256: notes.sha256 },
      ],
    });
    // As curl sends an upload, with Expect: 100-continue.
    expect((await same('/upload/parts', { method: 'POST', headers: [['content-type', type], ['expect', '100-continue']], body })).status).toBe(200);
  });

  it('@fastify/multipart: request.file() of a body sent in chunks, with the fields before it', async () => {
    const photo = randomFile(250 * 1024);
    const { body, type } = await multipartBody({ album: 'summer' }, { photo: photo.bytes });
    // Iterable again for the second server.
    const chunks = {
      async *[Symbol.asyncIterator]() {
        for (let at = 0; at < body.length; at += 16 * 1024) yield body.subarray(at, at + 16 * 1024);
      },
    };
    const res = await same('/upload/file', { method: 'POST', headers: [['content-type', type]], body: chunks });
    expect(res.json()).toMatchObject({ fields: { album: 'summer' }, file: { filename: 'photo.bin', size: photo.bytes.length, sha256: photo.sha256 } });
  });

  it('@fastify/multipart: the 413 of a file over the size limit, a body cut short, a wrong boundary, not multipart', async () => {
    const big = await multipartBody({ title: 'too big' }, { photo: randomFile(FILE_LIMIT + 1024).bytes });
    const parts = await same('/upload/parts', { method: 'POST', headers: [['content-type', big.type]], body: big.body });
    expect([parts.status, parts.json().code]).toEqual([413, 'FST_REQ_FILE_TOO_LARGE']);
    const file = await same('/upload/file', { method: 'POST', headers: [['content-type', big.type]], body: big.body });
    expect([file.status, file.json().truncated.size]).toEqual([413, FILE_LIMIT]);
    const { body, type } = await multipartBody({ a: '1' }, { f: randomFile(64 * 1024).bytes });
    // Both fail in busboy; what matters is that they fail the same way.
    expect((await same('/upload/parts', { method: 'POST', headers: [['content-type', type]], body: body.subarray(0, 32 * 1024) })).status).toBe(500);
    expect((await same('/upload/file', { method: 'POST', headers: [['content-type', type.replace(/boundary=.*/, 'boundary=other')]], body })).status).toBe(500);
    expect((await same('/upload/file', { method: 'POST', headers: [['content-type', 'application/json']], body: '{}' })).status).toBe(406);
  });

  it('@fastify/multipart: a client gone mid-upload leaves the server answering', async () => {
    const { body, type } = await multipartBody({}, { f: randomFile(256 * 1024).bytes });
    const cut = async function* () {
      yield body.subarray(0, 64 * 1024);
      throw new Error('the client went away');
    };
    await expect(open(running.url, `${config.prefix}/upload/parts`, { method: 'POST', headers: [['content-type', type], ['content-length', String(body.length)]], body: cut() })).rejects.toThrow();
    expect((await same('/api')).status).toBe(200);
  });

  it('@fastify/cookie: signed cookies set, then read back and verified; a tampered one is refused', async () => {
    const set = await same('/cookies/set');
    const cookies = set.all('set-cookie').map((line) => line.split(';')[0]!);
    expect(cookies).toHaveLength(2);
    const read = await same('/cookies/read', { headers: [['cookie', cookies[0]!], ['cookie', cookies[1]!]] });
    expect(read.json()).toEqual({ theme: 'dark', session: { valid: true, renew: false, value: 'ann' } });
    const tampered = await same('/cookies/read', { headers: [['cookie', cookies[0]!.replace('ann.', 'bob.')]] });
    expect(tampered.json()).toMatchObject({ session: { valid: false, value: null } });
  });

  it('@fastify/cors: preflights allowed and not, simple requests from an allowed origin and another', async () => {
    const origin: [string, string] = ['origin', 'https://app.example'];
    const preflight = await same('/api', { method: 'OPTIONS', headers: [origin, ['access-control-request-method', 'PUT'], ['access-control-request-headers', 'content-type']] });
    expect([preflight.status, preflight.header('access-control-allow-methods')]).toEqual([204, 'GET, PUT']);
    await same('/api', { method: 'OPTIONS', headers: [['origin', 'https://elsewhere.example'], ['access-control-request-method', 'PUT']] });
    await same('/api', { method: 'OPTIONS' });
    const simple = await same('/api', { method: 'PUT', headers: [origin] });
    expect([simple.header('access-control-allow-origin'), simple.header('access-control-allow-credentials')]).toEqual(['https://app.example', 'true']);
    // Its Vary: Origin and @fastify/compress's Vary: accept-encoding on one response.
    expect((await same('/json/large', { headers: [origin, ['accept-encoding', 'gzip']] })).header('vary')).toMatch(/origin.*accept-encoding/i);
    expect((await same('/api', { headers: [['origin', 'https://elsewhere.example']] })).header('access-control-allow-origin')).toBeUndefined();
  });

  it('@fastify/helmet: its headers on a route, a 404 and a refused body', async () => {
    for (const path of ['/api', '/nothing']) {
      const res = await same(path);
      expect(res.header('content-security-policy')).toContain("default-src 'self'");
      expect([res.header('x-frame-options'), res.header('x-content-type-options')]).toEqual(['SAMEORIGIN', 'nosniff']);
    }
    const refused = await same('/form', { method: 'POST', headers: [['content-type', 'application/x-unknown']], body: 'x' });
    expect([refused.status, refused.header('x-frame-options')]).toEqual([415, 'SAMEORIGIN']);
  });

  it('@fastify/static: a file, Ranges, 304s, HEAD, gzip, directories, a redirect and missing files', async () => {
    const file = await same('/public/notes.txt');
    expect(file.text()).toMatch(/^line 0 of the notes\n/);
    const range = await same('/public/notes.txt', { headers: [['range', 'bytes=10-99']] });
    expect([range.status, range.header('content-range'), range.body.length]).toEqual([206, `bytes 10-99/${file.body.length}`, 90]);
    expect((await same('/public/notes.txt', { headers: [['range', 'bytes=-10']] })).text()).toBe(file.text().slice(-10));
    expect((await same('/public/notes.txt', { headers: [['range', 'bytes=0-3'], ['if-range', '"stale"']] })).status).toBe(200);
    expect((await same('/public/notes.txt', { headers: [['range', 'bytes=999999-']] })).status).toBe(416);
    expect((await same('/public/notes.txt', { headers: [['if-none-match', file.header('etag')!]] })).status).toBe(304);
    expect((await same('/public/notes.txt', { headers: [['if-modified-since', file.header('last-modified')!]] })).status).toBe(304);
    const head = await same('/public/notes.txt', { method: 'HEAD' });
    expect([head.header('content-length'), head.body.length]).toEqual([String(file.body.length), 0]);
    expect(gunzipSync((await same('/public/notes.txt', { headers: [['accept-encoding', 'gzip']] })).body).toString()).toBe(file.text());
    expect((await same('/public/docs/a.txt')).text()).toBe('a file in a directory\n');
    expect((await same('/site/docs/')).text()).toBe('a file in a directory\n');
    expect((await same('/site/docs?x=1')).header('location')).toBe(`${config.prefix}/site/docs/?x=1`);
    expect((await same('/public/%C3%A9t%C3%A9.txt')).text()).toBe('a name in UTF-8\n');
    // Fastify decodes `%6F` itself; Express and Koa would not, so they redirect to the path without it.
    if (config.redirects) expect(await location(`${PREFIX}/public/n%6Ftes.txt`)).toBe(`${PREFIX}/public/notes.txt`);
    else expect((await same('/public/n%6Ftes.txt')).text()).toBe(file.text());
    const large = await same('/public/large.bin');
    expect(createHash('sha256').update(large.body).digest('hex')).toBe(createHash('sha256').update(readFileSync(join(files.root, 'large.bin'))).digest('hex'));
    expect((await same('/public/large.bin', { headers: [['range', 'bytes=1000000-2999999']] })).body.length).toBe(2000000);
    expect((await same('/download')).header('content-disposition')).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt");
    expect((await same('/send-file')).text()).toBe('a file in a directory\n');
    for (const path of ['/public/docs', '/public/docs/', '/public/missing.txt', '/public/docs%2Fa.txt']) expect((await same(path)).status).toBe(404);
    // Normalized, these are /package.json or /public/notes.txt: not a path for @fastify/static to refuse.
    if (config.normalizes) return;
    const escaping = ['/public/../package.json', '/public/%2e%2e/package.json', '/public/docs/../notes.txt', '/public//notes.txt'];
    if (config.redirects) {
      // Never above the mount point: the application would see them so.
      const normal = ['/package.json', '/package.json', '/public/notes.txt', '/public/notes.txt'];
      for (const [i, path] of escaping.entries()) expect(await location(PREFIX + path)).toBe(PREFIX + normal[i]);
      return;
    }
    for (const path of escaping) expect((await same(path)).status).toBe(403);
  });

  it('@fastify/formbody: an urlencoded form, also gzip-encoded (@fastify/compress decompresses it)', async () => {
    const body = 'name=ann&tags=a&tags=b&word=%C3%A9t%C3%A9+%E2%9C%93';
    const form = await same('/form', { method: 'POST', headers: [['content-type', 'application/x-www-form-urlencoded']], body });
    expect(form.json()).toEqual({ body: { name: 'ann', tags: ['a', 'b'], word: 'été ✓' } });
    const gzipped = await same('/form', { method: 'POST', headers: [['content-type', 'application/x-www-form-urlencoded'], ['content-encoding', 'gzip']], body: gzipSync(body) });
    expect(gzipped.json()).toEqual(form.json());
    expect((await same('/form', { method: 'POST', headers: [['content-type', 'application/json'], ['content-encoding', 'gzip']], body: 'not gzip' })).status).toBe(400);
  });

  it('a stream goes out event by event: each reaches the client before the next is written', async () => {
    const received: Seen[] = [];
    for (const url of [natives[config.prefix]!, running.url]) {
      const opened = once(eventStreams, 'open') as Promise<[PassThrough]>;
      const response = open(url, `${config.prefix}/events`, { agent });
      const [stream] = await opened;
      stream.write('data: first\n\n');
      const res = await response;
      const chunks = res[Symbol.asyncIterator]();
      expect(String((await chunks.next()).value)).toBe('data: first\n\n');
      stream.end('data: last\n\n');
      let rest = '';
      for (let step = await chunks.next(); !step.done; step = await chunks.next()) rest += String(step.value);
      expect(rest).toBe('data: last\n\n');
      const headers = Object.entries(res.headersDistinct).flatMap(([name, values]) => values!.map((value): [string, string] => [name, value]));
      received.push({ status: res.statusCode!, headers: fields(res.statusCode!, headers), body: '' });
    }
    config.adjust?.(received[0]!, received[1]!);
    expect(received[1]).toEqual(received[0]);
  });

  it('@fastify/compress: a large JSON in gzip, br and deflate, HEAD, and a stream', async () => {
    const plain = await same('/json/large');
    const gzip = await same('/json/large', { headers: [['accept-encoding', 'gzip']] });
    expect([gzip.header('content-encoding'), gunzipSync(gzip.body).toString()]).toEqual(['gzip', plain.text()]);
    expect(brotliDecompressSync((await same('/json/large', { headers: [['accept-encoding', 'br']] })).body).toString()).toBe(plain.text());
    expect((await same('/json/large', { headers: [['accept-encoding', 'deflate']] })).header('content-encoding')).toBe('deflate');
    expect((await same('/json/large', { method: 'HEAD', headers: [['accept-encoding', 'gzip']] })).body.length).toBe(0);
    expect((await same('/json/large', { headers: [['accept-encoding', 'gzip'], ['x-no-compression', '1']] })).text()).toBe(plain.text());
    const stream = await same('/stream', { headers: [['accept-encoding', 'gzip']] });
    expect(gunzipSync(stream.body).toString()).toMatch(/^streamed line 0\n[^]*streamed line 49\n$/);
    expect((await same('/stream', { headers: [['accept-encoding', 'br']] })).header('content-encoding')).toBe('br');
  });
});
