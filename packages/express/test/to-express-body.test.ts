import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { readBody, type Application } from '@ngi/core';
import express, { type ErrorRequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { toExpress } from '../src/index.ts';
import { fetchRaw, listen } from './_helpers.ts';

/** Answers with the request body it read and the headers describing it. */
const bodyEcho: Application = async (environ, startResponse) => {
  const bytes = await readBody(environ);
  const body = JSON.stringify({
    type: environ.CONTENT_TYPE ?? null,
    length: environ.CONTENT_LENGTH ?? null,
    encoding: environ.HTTP_CONTENT_ENCODING ?? null,
    text: Buffer.from(bytes).toString('utf8'),
    size: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [body];
};

/** Renders any error Express's error handlers receive, so tests can see what reached them. */
const showError: ErrorRequestHandler = (error: Error & { status?: number }, _req, res, _next) => {
  res.status(error.status ?? 500).type('text/plain').send(`handled: ${error.message}`);
};

describe('toExpress: request bodies Express already parsed', () => {
  const withParsers = (callable: Application) =>
    express()
      .use(express.json({ type: ['application/json', 'application/*+json'] }))
      .use(express.urlencoded({ extended: true }))
      .use(express.text({ type: 'text/*' }))
      .use(express.raw({ type: 'application/octet-stream' }))
      .use(toExpress(callable))
      .use(showError);

  it('§4.3 re-serializes a JSON req.body, with CONTENT_LENGTH for the bytes handed over', async () => {
    const { url } = await listen(withParsers(bodyEcho));
    const json = '{"a":1,"list":[1,"two",null],"nested":{"ok":true}}';
    const res = (await fetchRaw(url, '/', { method: 'POST', body: json, headers: { 'content-type': 'application/json' } })).json();
    expect(res).toMatchObject({ text: json, length: String(json.length), type: 'application/json' });
  });

  it('§4.3 re-serializes a JSON string, number, boolean or null a parser that is not strict gave', async () => {
    const { url } = await listen(express().use(express.json({ strict: false })).use(toExpress(bodyEcho)).use(showError));
    // A string that is itself JSON text (`"123"` parses to `123`) stays a string.
    for (const json of ['"hello"', '42', 'true', 'null', '"123"', '"[1]"']) {
      const res = (await fetchRaw(url, '/', { method: 'POST', body: json, headers: { 'content-type': 'application/json' } })).json();
      expect(res).toMatchObject({ text: JSON.stringify(JSON.parse(json)), type: 'application/json' });
    }
  });

  it('§4.3 hands over the text a text parser gave as it is, JSON or not', async () => {
    const { url } = await listen(express().use(express.text({ type: 'application/json' })).use(toExpress(bodyEcho)).use(showError));
    for (const text of ['{"a":[1,2]}', 'hello', '{"x": ']) {
      const res = (await fetchRaw(url, '/', { method: 'POST', body: text, headers: { 'content-type': 'application/json' } })).json();
      expect(res).toMatchObject({ text, length: String(text.length) });
    }
  });

  it('§4.3 re-serializes a form req.body: repeated keys, nested brackets and spaces survive', async () => {
    const { url } = await listen(withParsers(bodyEcho));
    const form = 'a=1&a=2&b%5Bc%5D=x+y&empty=';
    const res = (await fetchRaw(url, '/', { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json();
    expect(new URLSearchParams(res.text as string).toString()).toBe(new URLSearchParams(form).toString());
  });

  it('§4.3 says UTF-8 in CONTENT_TYPE for text a parser decoded with its default charset, the request having named none', async () => {
    const { url } = await listen(express().use(express.text({ defaultCharset: 'latin1' })).use(toExpress(bodyEcho)).use(showError));
    const res = (await fetchRaw(url, '/', { method: 'POST', body: Buffer.from('café', 'latin1'), headers: { 'content-type': 'text/plain' } })).json();
    expect(res).toMatchObject({ text: 'café', size: 5, type: 'text/plain; charset=utf-8' });
  });

  it('§4.3 re-encodes a text req.body as UTF-8 and says so in CONTENT_TYPE', async () => {
    const { url } = await listen(withParsers(bodyEcho));
    const latin1 = Buffer.from('café', 'latin1');
    const res = (await fetchRaw(url, '/', { method: 'POST', body: latin1, headers: { 'content-type': 'text/plain; charset=iso-8859-1' } })).json();
    expect(res).toMatchObject({ text: 'café', size: 5, length: '5', type: 'text/plain; charset=utf-8' });
  });

  it('§4.3 hands over a raw Buffer req.body byte for byte, and the inflated body of a gzip request', async () => {
    const { url } = await listen(withParsers(bodyEcho));
    const bytes = randomBytes(50_000);
    const raw = (await fetchRaw(url, '/', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).json();
    expect([raw.size, raw.sha256]).toEqual([bytes.length, createHash('sha256').update(bytes).digest('hex')]);
    const gzip = gzipSync('{"zipped":true}');
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
    const inflated = (await fetchRaw(url, '/', { method: 'POST', body: gzip, headers })).json();
    expect(inflated).toMatchObject({ text: '{"zipped":true}', encoding: null, length: '15' });
  });

  it('§4.3 prefers the exact bytes a parser kept as req.rawBody (verify) over re-serializing', async () => {
    const keep = { verify: (req: { rawBody?: Buffer }, _res: unknown, buf: Buffer) => void (req.rawBody = buf) };
    const app = express().use(express.json(keep as never)).use(toExpress(bodyEcho));
    const { url } = await listen(app);
    const json = '{ "spaced" :  1 }';
    const res = (await fetchRaw(url, '/', { method: 'POST', body: json, headers: { 'content-type': 'application/json' } })).json();
    expect(res.text).toBe(json);
  });

  it('§4.3 streams the body when no parser took it (another content type), byte for byte', async () => {
    const { url } = await listen(withParsers(bodyEcho));
    const bytes = randomBytes(300_000);
    const res = (await fetchRaw(url, '/', { method: 'POST', body: bytes, headers: { 'content-type': 'image/png' } })).json();
    expect([res.size, res.sha256]).toEqual([bytes.length, createHash('sha256').update(bytes).digest('hex')]);
  });

  it('§4.3 fails with a clear error, not a hang or an empty body, when a middleware read the stream and left no req.body', async () => {
    const app = express().use((req, _res, next) => {
      req.on('data', () => {}).on('end', () => next());
    });
    const { url } = await listen(app.use(toExpress(bodyEcho)).use(showError));
    const res = await fetchRaw(url, '/', { method: 'POST', body: 'lost', headers: { 'content-type': 'application/x-custom' } });
    expect(res.status).toBe(500);
    expect(res.text()).toMatch(/^handled: toExpress: an earlier middleware already read the request body and left no req.body; mount/);
  });

  it('§4.3 parsedBody "error" refuses to hand over a parsed body', async () => {
    const app = express().use(express.json()).use(toExpress(bodyEcho, { parsedBody: 'error' })).use(showError);
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect([res.status, res.text()]).toEqual([500, expect.stringContaining('the parsedBody option is "error"')]);
  });
});
