import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { brotliDecompressSync, createGunzip, gunzipSync } from 'node:zlib';
import express from 'express';
import { beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen } from '../conformance/helpers.ts';
import { configs, view } from './_express-configs.ts';
import { gate } from '../fixtures/gate.ts';
import { bigDocument, ecosystemApp, LogLines, ORIGIN, STREAM_PARTS } from './_express-app.ts';

/** The app served one way, with its morgan log and the errors its error handler saw. */
interface Side {
  url: string;
  log: LogLines;
  failures: LogLines;
  close(): Promise<void>;
}

describe.each(configs)('a legacy Express app with its middleware, natively and through $name', (config) => {
  let native: Side;
  let ngi: Side;
  beforeAll(async () => {
    const [nativeLog, nativeFailures, ngiLog, ngiFailures] = [new LogLines(), new LogLines(), new LogLines(), new LogLines()];
    const app = ecosystemApp(nativeLog, nativeFailures);
    const server = await listen(config.prefix === '' ? app : express().use(config.prefix, app));
    native = { ...server, log: nativeLog, failures: nativeFailures };
    ngi = { ...(await config.start(ecosystemApp(ngiLog, ngiFailures))), log: ngiLog, failures: ngiFailures };
    return () => Promise.all([native.close(), ngi.close()]);
  });

  const at = (path: string) => config.prefix + path;

  /**
   * Sends one request to both, expects the same status, headers and (decompressed) body, and
   * returns both. A function makes each its own request (a streamed body is read once).
   */
  async function same(path: string, init: RawRequest | (() => RawRequest) = {}): Promise<[RawResponse, RawResponse]> {
    const make = typeof init === 'function' ? init : () => init;
    const [a, b] = await Promise.all([fetchRaw(native.url, at(path), make()), fetchRaw(ngi.url, at(path), make())]);
    const without: string[] = [];
    // §10.4: a converted 204 carries no Content-Length; Node sends the one cors sets (`0`).
    if (config.converts && a.status === 204) without.push('content-length');
    if (config.sendsWhole && a.header('transfer-encoding') === 'chunked' && b.header('content-length') === String(b.body.length)) without.push('content-length', 'transfer-encoding');
    expect(view(b, without)).toEqual(view(a, without));
    return [a, b];
  }

  it('multer: a multipart upload of a file of random bytes and text fields, sized and chunked, and one over its limit', async () => {
    const multipart = async (size: number) => {
      const form = new FormData();
      form.append('title', 'quarterly report');
      form.append('note', 'ünïcödé, with "quotes"');
      const bytes = randomBytes(size);
      form.append('file', new Blob([bytes], { type: 'application/octet-stream' }), 'report.bin');
      const encoded = new Response(form);
      const body = Buffer.from(await encoded.arrayBuffer());
      return { bytes, body, headers: { 'content-type': encoded.headers.get('content-type')! } };
    };
    const expected = (bytes: Buffer) => ({
      fields: { title: 'quarterly report', note: 'ünïcödé, with "quotes"' },
      file: { field: 'file', name: 'report.bin', type: 'application/octet-stream', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    });
    const { bytes, body, headers } = await multipart(300_000);
    expect((await same('/upload', { method: 'POST', body, headers }))[0].json()).toEqual(expected(bytes));
    // Without a Content-Length: the body comes chunked, in pieces of 16 KiB.
    const pieces = async function* () {
      for (let at = 0; at < body.length; at += 16_384) yield body.subarray(at, at + 16_384);
    };
    expect((await same('/upload', () => ({ method: 'POST', body: pieces(), headers })))[0].json()).toEqual(expected(bytes));
    // Over Fastify's default bodyLimit (1 MiB), which applies to Fastify's parsers, not to the app's.
    const large = await multipart(1_200_000);
    expect((await same('/upload', { method: 'POST', body: large.body, headers: large.headers }))[0].json()).toEqual(expected(large.bytes));
    const tooLarge = await multipart(2_200_000);
    const [refused] = await same('/upload', { method: 'POST', body: tooLarge.body, headers: tooLarge.headers });
    expect([refused.status, refused.json()]).toEqual([413, { error: 'File too large', code: 'LIMIT_FILE_SIZE' }]);
  });

  it('multer: an upload the client gives up halfway reaches the error handler', async () => {
    const form = new FormData();
    form.append('file', new Blob([randomBytes(300_000)]), 'cut.bin');
    const encoded = new Response(form);
    const body = Buffer.from(await encoded.arrayBuffer());
    const upload = async (side: Side) => {
      const from = side.failures.lines.length;
      const cut = async function* () {
        yield body.subarray(0, 100_000);
        throw new Error('the client gave up');
      };
      await expect(open(side.url, at('/upload'), { method: 'POST', body: cut(), headers: { 'content-type': encoded.headers.get('content-type')! } })).rejects.toThrow();
      return (await side.failures.until(from + 1)).slice(from);
    };
    const [seen, ngiSeen] = await Promise.all([upload(native), upload(ngi)]);
    expect(seen).toEqual(['Request aborted']);
    expect(ngiSeen).toEqual(seen);
  });

  it('express-session and cookie-parser: a counter kept by the session cookie, and signed cookies', async () => {
    const [first, firstNgi] = await same('/count');
    expect([first.json(), first.header('set-cookie')]).toEqual([{ count: 1 }, expect.stringMatching(/^sid=s%3A[^;]+; Path=\/; HttpOnly$/)]);
    const cookie = (res: RawResponse) => ({ cookie: res.header('set-cookie')!.split(';')[0]! });
    const [second, secondNgi] = await Promise.all([fetchRaw(native.url, at('/count'), { headers: cookie(first) }), fetchRaw(ngi.url, at('/count'), { headers: cookie(firstNgi) })]);
    expect(view(secondNgi)).toEqual(view(second));
    expect([second.json(), second.header('set-cookie')]).toEqual([{ count: 2 }, undefined]);
    // Behind a TLS proxy (trust proxy), the cookie is marked Secure.
    const [secure] = await same('/count', { headers: { 'x-forwarded-proto': 'https' } });
    expect(secure.header('set-cookie')).toMatch(/; HttpOnly; Secure$/);

    const [set] = await same('/cookies/set');
    const jar = set.all('set-cookie').map((line) => line.split(';')[0]!);
    expect(jar).toEqual(['plain=p%201', expect.stringMatching(/^signed=s%3Avalue%20to%20trust\.[^;]+$/)]);
    const [read] = await same('/cookies', { headers: { cookie: jar.join('; ') } });
    expect(read.json()).toEqual({ cookies: { plain: 'p 1' }, signed: { signed: 'value to trust' } });
    const forged = jar.map((line) => line.replace('value%20to%20trust', 'forged'));
    expect((await same('/cookies', { headers: { cookie: forged.join('; ') } }))[0].json()).toEqual({ cookies: { plain: 'p 1' }, signed: { signed: false } });
  });

  it('morgan: one log line per request, with the status, content-length and URL', async () => {
    const from = [native.log.lines.length, ngi.log.lines.length] as const;
    const headers = { referer: 'https://client.example/page', 'user-agent': 'legacy-client/1.0' };
    const [api] = await same('/api?x=1', { headers });
    await same('/missing', { headers: { ...headers, 'x-forwarded-for': '203.0.113.9' } });
    await same('/big.json', { headers: { ...headers, 'accept-encoding': 'gzip' } });
    const [lines, ngiLines] = await Promise.all([native.log.until(from[0] + 3), ngi.log.until(from[1] + 3)]);
    // The response time is the one field that differs; it must be measured all the same.
    const timed = (line: string) => (expect(line).toMatch(/ \d+\.\d{3}$/), line.replace(/ [^ ]+$/, ''));
    expect(ngiLines.slice(from[1]).map(timed)).toEqual(lines.slice(from[0]).map(timed));
    const tail = '"https://client.example/page" "legacy-client/1.0"';
    expect(lines.slice(from[0]).map(timed)).toEqual([
      `127.0.0.1 GET ${at('/api?x=1')} HTTP/1.1 200 ${api.header('content-length')!} - ${tail}`,
      `203.0.113.9 GET ${at('/missing')} HTTP/1.1 404 13 - ${tail}`,
      `127.0.0.1 GET ${at('/big.json')} HTTP/1.1 200 - gzip ${tail}`,
    ]);
  });

  it('helmet: its security headers, and no x-powered-by', async () => {
    const [res] = await same('/api');
    expect(res.header('content-security-policy')).toContain("default-src 'self'");
    expect([res.header('x-content-type-options'), res.header('x-frame-options'), res.header('strict-transport-security'), res.header('x-powered-by')]).toEqual(['nosniff', 'SAMEORIGIN', 'max-age=31536000; includeSubDomains', undefined]);
  });

  it('cors: a preflight OPTIONS and a simple request', async () => {
    const [preflight, ngiPreflight] = await same('/api', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-token' } });
    expect([preflight.status, preflight.header('access-control-allow-origin'), preflight.header('access-control-allow-methods'), preflight.header('access-control-allow-headers'), preflight.header('access-control-max-age'), preflight.body.length]).toEqual([204, ORIGIN, 'GET,HEAD,PUT,PATCH,POST,DELETE', 'x-token', '600', 0]);
    expect([preflight.header('content-length'), ngiPreflight.header('content-length')]).toEqual(['0', config.converts ? undefined : '0']);
    const [simple] = await same('/api', { headers: { origin: ORIGIN } });
    expect([simple.status, simple.header('access-control-allow-origin'), simple.header('access-control-allow-credentials'), simple.header('access-control-expose-headers'), simple.header('vary')]).toEqual([200, ORIGIN, 'true', 'x-total', 'Origin, Accept-Encoding']);
  });

  it('compression: a large JSON body, gzipped or in brotli', async () => {
    const [res, ngiRes] = await same('/big.json', { headers: { 'accept-encoding': 'gzip' } });
    const json = JSON.stringify(bigDocument);
    expect([res.header('content-encoding'), res.header('content-length'), res.header('vary'), res.body.length < json.length / 4]).toEqual(['gzip', undefined, 'Origin, Accept-Encoding', true]);
    expect(gunzipSync(ngiRes.body).toString()).toBe(json);
    const [brotli, ngiBrotli] = await same('/big.json', { headers: { 'accept-encoding': 'br' } });
    expect([brotli.header('content-encoding'), ngiBrotli.header('content-encoding'), brotliDecompressSync(ngiBrotli.body).toString()]).toEqual(['br', 'br', json]);
    const [plain] = await same('/big.json');
    expect([plain.header('content-encoding'), plain.text()]).toEqual([undefined, json]);
    const [head] = await same('/big.json', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
    expect([head.header('content-encoding'), head.header('content-length'), head.body.length]).toEqual([undefined, String(json.length), 0]);
    const [cached] = await same('/big.json', { headers: { 'accept-encoding': 'gzip', 'if-none-match': res.header('etag')! } });
    expect([cached.status, cached.body.length]).toEqual([304, 0]);
  });

  it('compression: a streamed res.write body, each part flushed with res.flush()', async () => {
    /** Reads the response, opening the gate once the first part came through decompressed. */
    async function read(url: string): Promise<{ head: [number, string | undefined, string | undefined]; text: string }> {
      const id = randomUUID();
      const res = await open(url, at(`/stream/${id}`), { headers: { 'accept-encoding': 'gzip' } });
      const gunzip = res.pipe(createGunzip());
      let text = '';
      gunzip.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.length >= STREAM_PARTS[0]!.length) gate(id).open();
      });
      await once(gunzip, 'end');
      return { head: [res.statusCode!, res.headers['content-encoding'], res.headers['transfer-encoding']], text };
    }
    const [a, b] = await Promise.all([read(native.url), read(ngi.url)]);
    expect(b).toEqual(a);
    expect(a).toEqual({ head: [200, 'gzip', 'chunked'], text: STREAM_PARTS.join('') });
  });

  it('a path no route answers: Express\'s 404, marked x-cascade: pass, or the host\'s own, as @ngi/express documents', async () => {
    const [res, ngiRes] = await Promise.all([fetchRaw(native.url, at('/nowhere')), fetchRaw(ngi.url, at('/nowhere'))]);
    expect([res.status, res.text()]).toEqual([404, expect.stringContaining(`Cannot GET ${at('/nowhere')}`)]);
    if (config.prefix === '') {
      // fromExpress marks it so that cascade, mount or an outer app can try the next handler.
      expect(view(ngiRes)).toEqual(view({ ...res, headers: [...res.headers, ['x-cascade', 'pass']] }));
    } else {
      // Mounted in a host, the request goes on to the host's next handler: here its 404.
      expect([ngiRes.status, ngiRes.text().includes('Cannot GET')]).toEqual([404, false]);
    }
  });
});
