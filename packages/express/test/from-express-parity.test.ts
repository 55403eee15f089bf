import { createHash, randomBytes } from 'node:crypto';
import { mount } from '@ngi/core';
import express from 'express';
import { beforeAll, describe, expect, it } from 'vitest';
import { expressMajor } from '../../../test/fixtures/versions.ts';
import { fromExpress } from '../src/index.ts';
import { featureApp, files } from './_feature-app.ts';
import { fetchRaw, listen, listenApp, quiet, through, type RawRequest, type RawResponse, type Running } from './_helpers.ts';

/** Headers that differ between any two servers: the clock and the connection. */
const VOLATILE = new Set(['date', 'connection', 'keep-alive']);

function view(res: RawResponse) {
  const headers = res.headers.filter(([name]) => !VOLATILE.has(name)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // Large bodies compare by hash: a deep compare of a big Buffer is slow.
  const body = res.body.length > 4096 ? createHash('sha256').update(res.body).digest('hex') : res.body.toString('latin1');
  return { status: res.status, statusText: res.statusText, headers, body };
}

interface Pair {
  native: Running;
  ngi: Running;
}

/** Sends the same request to both servers, expects the same response, and returns the native one. */
async function same(pair: Pair, path: string, init: RawRequest = {}): Promise<RawResponse> {
  const [native, ngi] = await Promise.all([fetchRaw(pair.native.url, path, init), fetchRaw(pair.ngi.url, path, init)]);
  expect(view(ngi)).toEqual(view(native));
  return native;
}

let root: Pair;
let prefixed: Pair;
beforeAll(async () => {
  // One app instance, served natively and through the adapter at the same time.
  const app = featureApp();
  root = { native: await listen(app, true), ngi: await listenApp(through(fromExpress(app)), quiet, true) };
  prefixed = {
    native: await listen(express().use('/legacy', featureApp()), true),
    ngi: await listenApp(through(mount({ '/legacy': fromExpress(featureApp()) })), quiet, true),
  };
  return () => Promise.all([root.native, root.ngi, prefixed.native, prefixed.ngi].map((server) => server.close()));
}, 10_000);

describe('fromExpress: an Express app answers as it does natively (full conversion)', () => {
  it('routers, route params and router.param', async () => {
    const res = await same(root, '/users/ada/posts/7?x=1');
    expect(res.json()).toMatchObject({ params: { id: 'ada', post: '7' }, baseUrl: '/users', path: '/ada/posts/7' });
    expect((await same(root, '/users/ada')).json()).toMatchObject({ upper: 'ADA' });
  });

  it('req.ip, req.ips, req.protocol, req.secure and req.hostname with trust proxy', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.9, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' };
    const res = await same(root, '/info?q=1&tag=a&tag=b', { headers });
    expect(res.json()).toMatchObject({ ip: '203.0.113.9', ips: ['203.0.113.9', '127.0.0.1'], protocol: 'https', secure: true, hostname: 'shop.example', query: { q: '1', tag: ['a', 'b'] } });
    expect((await same(root, '/info')).json()).toMatchObject({ ip: '127.0.0.1', protocol: 'http', hostname: '127.0.0.1' });
  });

  it('body parsers: json, urlencoded, text and raw, and the 400 of a malformed JSON body', async () => {
    const post = (body: string | Uint8Array, type: string) => same(root, '/echo', { method: 'POST', body, headers: { 'content-type': type } });
    expect((await post('{"a":[1,2]}', 'application/json')).json()).toMatchObject({ body: { a: [1, 2] } });
    expect((await post('a=1&b[c]=2', 'application/x-www-form-urlencoded')).json()).toMatchObject({ body: { a: '1', b: { c: '2' } } });
    expect((await post('just text', 'text/plain')).json()).toMatchObject({ body: 'just text' });
    expect((await post(randomBytes(100_000), 'application/octet-stream')).json()).toMatchObject({ kind: 'raw', size: 100_000 });
    const bad = await post('{nope', 'application/json');
    expect([bad.status, bad.json().type]).toEqual([400, 'entity.parse.failed']);
  });

  it('res.send with ETag, a 304 for If-None-Match, HEAD, and a 1 MB+ body', async () => {
    const first = await same(root, '/send');
    const etag = first.header('etag')!;
    expect(etag).toMatch(/^W\/"/);
    expect((await same(root, '/send', { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await same(root, '/send', { method: 'HEAD' });
    expect([head.body.length, head.header('content-length')]).toEqual([0, String(first.body.length)]);
    expect((await same(root, '/big')).body.equals(files.data)).toBe(true);
  });

  it('res.cookie and res.clearCookie: every set-cookie', async () => {
    expect((await same(root, '/cookies')).all('set-cookie')).toHaveLength(3);
  });

  it('res.redirect and res.format', async () => {
    expect((await same(root, '/redirect')).header('location')).toBe('/target');
    expect((await same(root, '/redirect-relative')).status).toBe(301);
    expect((await same(root, '/format', { headers: { accept: 'application/json' } })).json()).toEqual({ as: 'json' });
    expect((await same(root, '/format', { headers: { accept: 'text/plain' } })).text()).toBe('as text');
    expect((await same(root, '/format', { headers: { accept: 'image/png' } })).status).toBe(406);
  });

  it('res.sendFile, ranges, res.download and a piped stream', async () => {
    expect((await same(root, '/file')).text()).toBe('Hello from a static file.\n');
    const range = await same(root, '/file', { headers: { range: 'bytes=0-4' } });
    expect([range.status, range.text()]).toEqual([206, 'Hello']);
    expect((await same(root, '/download')).header('content-disposition')).toBe(expressMajor >= 5 ? 'attachment; filename=report.bin' : 'attachment; filename="report.bin"');
    expect((await same(root, '/pipe')).body.equals(files.data)).toBe(true);
  });

  it('express.static: files, directory indexes, the trailing-slash redirect and If-Modified-Since', async () => {
    const file = await same(root, '/static/hello.txt');
    expect(file.text()).toBe('Hello from a static file.\n');
    expect((await same(root, '/static/hello.txt', { headers: { 'if-modified-since': file.header('last-modified')! } })).status).toBe(304);
    expect((await same(root, '/static/docs/')).text()).toContain('Docs index');
    expect((await same(root, '/static/docs')).header('location')).toBe('/static/docs/');
  });

  it('streaming res.write (an event stream) and sendStatus', async () => {
    expect((await same(root, '/sse')).text()).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    expect((await same(root, '/status/201')).text()).toBe('Created');
  });

  it('error handlers: thrown, rejected and next(err) errors', async () => {
    expect((await same(root, '/throws')).status).toBe(409);
    // Express 4 leaves a rejected route unanswered, natively as through the adapter.
    if (expressMajor >= 5) expect((await same(root, '/rejects')).json()).toMatchObject({ error: 'rejected in an async route' });
    expect((await same(root, '/next-error')).status).toBe(418);
  });

  it('OPTIONS gets the Allow list Express builds', async () => {
    expect((await same(root, '/users/ada', { method: 'OPTIONS' })).header('allow')).toBe(expressMajor >= 5 ? 'GET, HEAD' : 'GET,HEAD');
  });
});

describe('fromExpress under a mount prefix: the same as a native sub-app (app.use("/legacy", sub))', () => {
  it('§3.2 req.baseUrl, req.originalUrl and req.path, in the app and in its routers', async () => {
    expect((await same(prefixed, '/legacy/info?x=1')).json()).toMatchObject({ baseUrl: '/legacy', originalUrl: '/legacy/info?x=1', path: '/info', url: '/info?x=1' });
    expect((await same(prefixed, '/legacy/users/ada')).json()).toMatchObject({ baseUrl: '/legacy/users', originalUrl: '/legacy/users/ada', path: '/ada' });
  });

  it('redirects as a native sub-app does, static redirects with the prefix, error handlers see originalUrl', async () => {
    expect((await same(prefixed, '/legacy/redirect')).header('location')).toBe('/target');
    expect((await same(prefixed, '/legacy/static/docs')).header('location')).toBe('/legacy/static/docs/');
    expect((await same(prefixed, '/legacy/next-error')).json()).toMatchObject({ at: '/legacy/next-error' });
    expect((await same(prefixed, '/legacy/echo', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } })).json()).toMatchObject({ body: { a: 1 } });
  });
});
