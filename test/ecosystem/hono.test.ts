import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw, open, type RawRequest, type RawResponse } from '../conformance/client.ts';
import { listen } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';
import { nativeListener } from '../../packages/fetch/test/_native.ts';
import { gate } from '../fixtures/gate.ts';
import { bigDocument, LogLines } from './_express-app.ts';
import { view } from './_express-configs.ts';
import { configs } from './_hono-configs.ts';
import { EVENTS, firstChunk, honoApp, LIMIT, ORIGIN, TEXT, USER } from './_hono-app.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** `body` in pieces of 16 KiB, sent chunked (no Content-Length). */
async function* pieces(body: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < body.length; at += 16_384) yield body.subarray(at, at + 16_384);
}

describe.each(configs)('a Hono app with its middleware, natively on @hono/node-server and through $name', (config) => {
  let native: ConformanceServer;
  let ngi: ConformanceServer;
  const failures = { native: new LogLines(), ngi: new LogLines() };
  beforeAll(async () => {
    [native, ngi] = await Promise.all([listen(nativeListener(honoApp(config.prefix, failures.native).fetch)), config.start(honoApp('', failures.ngi))]);
    return () => Promise.all([native.close(), ngi.close()]).then(() => {});
  });

  const at = (path: string) => config.prefix + path;

  /** Sends one request to both; expects the same status, headers and decoded body. A function makes each its own request. */
  async function same(path: string, init: RawRequest | (() => RawRequest) = {}, without: string[] = []): Promise<[RawResponse, RawResponse]> {
    const make = typeof init === 'function' ? init : () => init;
    const [a, b] = await Promise.all([fetchRaw(native.url, at(path), make()), fetchRaw(ngi.url, at(path), make())]);
    // fromFetch gives an empty statusText the RFC 9110 reason phrase (README), where Node 20 has its own for some codes.
    const reason = (res: RawResponse) => (res.status === 413 ? { ...view(res, without), statusText: 'Content Too Large' } : view(res, without));
    expect(view(b, without)).toEqual(reason(a));
    return [a, b];
  }

  it('JSON in and out', async () => {
    const body = JSON.stringify({ name: 'été ✓', list: [1, 2] });
    const [res] = await same('/json', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.json()).toEqual({ received: JSON.parse(body) });
    const [api] = await same('/api');
    expect([api.header('x-total'), api.json()]).toEqual(['3', { ok: true }]);
  });

  it('parseBody(): a form, and a multipart upload of random bytes, sized and chunked', async () => {
    const [form] = await same('/form', { method: 'POST', body: 'a=1&a=2&b=%C3%A9t%C3%A9', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.json()).toEqual({ a: ['1', '2'], b: 'été' });
    const data = new FormData();
    data.append('title', 'quarterly report');
    const bytes = randomBytes(300_000);
    data.append('file', new Blob([bytes], { type: 'application/octet-stream' }), 'report.bin');
    const encoded = new Response(data);
    const body = new Uint8Array(await encoded.arrayBuffer());
    const headers = { 'content-type': encoded.headers.get('content-type')! };
    const expected = { fields: { title: 'quarterly report' }, file: { name: 'report.bin', type: 'application/octet-stream', size: bytes.length, sha256: sha256(bytes) } };
    expect((await same('/upload', { method: 'POST', body, headers }))[0].json()).toEqual(expected);
    expect((await same('/upload', () => ({ method: 'POST', body: pieces(body), headers })))[0].json()).toEqual(expected);
  });

  it('an upload the client gives up halfway reaches onError', async () => {
    const data = new FormData();
    data.append('file', new Blob([randomBytes(300_000)]), 'cut.bin');
    const encoded = new Response(data);
    const body = new Uint8Array(await encoded.arrayBuffer());
    const cut = async (url: string, seen: LogLines) => {
      const from = seen.lines.length;
      const chunks = async function* () {
        yield body.subarray(0, 100_000);
        throw new Error('the client gave up');
      };
      await expect(open(url, at('/upload'), { method: 'POST', body: chunks(), headers: { 'content-type': encoded.headers.get('content-type')! } })).rejects.toThrow();
      return (await seen.until(from + 1)).slice(from);
    };
    const [messages, ngiMessages] = await Promise.all([cut(native.url, failures.native), cut(ngi.url, failures.ngi)]);
    expect(messages).toEqual(['aborted']);
    expect(ngiMessages).toEqual(messages);
  });

  it('cookies: two setCookie() calls give two Set-Cookie lines, and getCookie() reads them back', async () => {
    const [set] = await same('/cookies/set');
    expect(set.all('set-cookie')).toEqual(['theme=dark; Path=/; HttpOnly', 'lang=fr; Path=/; SameSite=Lax']);
    const [read] = await same('/cookies', { headers: { cookie: 'theme=dark; lang=fr' } });
    expect(read.json()).toEqual({ theme: 'dark', lang: 'fr' });
  });

  it('cors: a preflight and a simple request; secure-headers on every response', async () => {
    const [preflight] = await same('/api', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-token' } });
    expect([preflight.status, preflight.header('access-control-allow-origin'), preflight.header('access-control-allow-headers'), preflight.header('access-control-max-age'), preflight.body.length]).toEqual([204, ORIGIN, 'x-token', '600', 0]);
    const [simple] = await same('/api', { headers: { origin: ORIGIN } });
    expect([simple.header('access-control-allow-origin'), simple.header('access-control-allow-credentials'), simple.header('access-control-expose-headers')]).toEqual([ORIGIN, 'true', 'x-total']);
    expect([simple.header('x-content-type-options'), simple.header('x-frame-options'), simple.header('strict-transport-security')]).toEqual(['nosniff', 'SAMEORIGIN', 'max-age=15552000; includeSubDomains']);
  });

  it('etag: a tag, and a 304 for it; compressed, the tag turns weak and still matches', async () => {
    const [res] = await same('/etag/doc');
    const tag = res.header('etag')!;
    expect([tag, res.text()]).toEqual([expect.stringMatching(/^"[0-9a-f]+"$/), TEXT]);
    const [cached] = await same('/etag/doc', { headers: { 'if-none-match': tag } });
    expect([cached.status, cached.header('etag'), cached.body.length]).toEqual([304, tag, 0]);
    const [gzipped] = await same('/etag/doc', { headers: { 'accept-encoding': 'gzip' } });
    expect([gzipped.header('content-encoding'), gzipped.header('etag')]).toEqual(['gzip', `W/${tag}`]);
    expect((await same('/etag/doc', { headers: { 'accept-encoding': 'gzip', 'if-none-match': `W/${tag}` } }))[0].status).toBe(304);
  });

  it('compress: a large JSON body gzipped, and left alone without Accept-Encoding', async () => {
    const json = JSON.stringify(bigDocument);
    const [gzipped] = await same('/big.json', { headers: { 'accept-encoding': 'gzip' } });
    expect([gzipped.header('content-encoding'), gzipped.header('vary'), gzipped.body.length < json.length / 4]).toEqual(['gzip', 'Accept-Encoding, Origin', true]);
    const [plain] = await same('/big.json');
    expect([plain.header('content-encoding'), plain.text()]).toEqual([undefined, json]);
  });

  it('basic-auth: 401 with a challenge, 401 for a wrong password, 200 for the user', async () => {
    const [challenge] = await same('/private');
    expect([challenge.status, challenge.header('www-authenticate')]).toEqual([401, 'Basic realm="Secure Area"']);
    expect((await same('/private', { headers: basic(USER.username, 'wrong') }))[0].status).toBe(401);
    const [ok] = await same('/private', { headers: basic(USER.username, USER.password) });
    expect([ok.status, ok.text()]).toEqual([200, 'welcome']);
  });

  it('body-limit: 413 over the limit, by Content-Length or counted in a chunked body; under it, the body is read', async () => {
    const small = randomBytes(LIMIT);
    const large = randomBytes(4 * LIMIT);
    expect((await same('/limited', { method: 'POST', body: small }))[0].json()).toEqual({ size: LIMIT, sha256: sha256(small) });
    // Under the limit without a Content-Length, bodyLimit copies the request (`new Request(raw, { body })`),
    // which @hono/node-server's request cannot be without its globals (@hono/node-server#154): natively a 500.
    const chunkedSmall = await fetchRaw(ngi.url, at('/limited'), { method: 'POST', body: pieces(small) });
    expect([chunkedSmall.status, chunkedSmall.json()]).toEqual([200, { size: LIMIT, sha256: sha256(small) }]);
    const [sized] = await same('/limited', { method: 'POST', body: large });
    // More than the hosts drain of a body left unread (Fastify's drainLimit, 1 MiB).
    const [huge] = await same('/limited', { method: 'POST', body: randomBytes(3_000_000) });
    const [chunked] = await same('/limited', () => ({ method: 'POST', body: (async function* () { yield* pieces(small); yield large; })() }));
    expect([sized.status, sized.json(), chunked.status, huge.status]).toEqual([413, { error: 'too large' }, 413, 413]);
  });

  it('streamSSE: each event arrives before the next is written', async () => {
    const events = async (url: string, id: string) => {
      const res = await open(url, at(`/sse/${id}`));
      expect([res.statusCode, res.headers['content-type'], res.headers['cache-control']]).toEqual([200, 'text/event-stream', 'no-cache']);
      const seen: string[] = [];
      let text = '';
      for await (const chunk of res) {
        text += String(chunk);
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
          seen.push(text.slice(0, end));
          text = text.slice(end + 2);
          gate(`${id}:${seen.length - 1}`).open();
        }
      }
      return seen;
    };
    const id = `sse-${configs.indexOf(config)}`;
    const [seen, ngiSeen] = await Promise.all([events(native.url, `${id}-native`), events(ngi.url, `${id}-ngi`)]);
    expect(seen).toEqual(EVENTS.map((data, i) => `event: tick\ndata: ${data}\nid: ${i}`));
    expect(ngiSeen).toEqual(seen);
  });

  it('a stream the client leaves: stream.onAbort() runs and c.req.raw.signal aborts', async () => {
    const leave = async (url: string, id: string) => {
      const res = await open(url, at(`/abort/${id}`));
      const first = await firstChunk(res);
      res.destroy();
      await Promise.all([gate(`${id}:aborted`).promise, gate(`${id}:signal`).promise]);
      return first;
    };
    const id = `abort-${configs.indexOf(config)}`;
    expect(await Promise.all([leave(native.url, `${id}-native`), leave(ngi.url, `${id}-ngi`)])).toEqual(['started\n', 'started\n']);
  });

  it('a request the client leaves before any response: c.req.raw.signal aborts', async () => {
    const leave = async (url: string, id: string) => {
      const controller = new AbortController();
      const pending = open(url, at(`/hold/${id}`), { signal: controller.signal });
      await gate(`${id}:arrived`).promise;
      controller.abort();
      await expect(pending).rejects.toThrow();
      await gate(`${id}:aborted`).promise;
    };
    const id = `hold-${configs.indexOf(config)}`;
    await Promise.all([leave(native.url, `${id}-native`), leave(ngi.url, `${id}-ngi`)]);
  });

  it('HEAD has the head of GET and no body', async () => {
    const [head] = await same('/api', { method: 'HEAD' });
    expect([head.status, head.header('x-total'), head.body.length]).toEqual([200, '3', 0]);
    expect((await same('/big.json', { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } }))[0].body.length).toBe(0);
  });

  it("Hono's notFound and onError answer", async () => {
    const [missing] = await same('/missing');
    expect([missing.status, missing.json()]).toEqual([404, { error: 'no such route' }]);
    const [failed] = await same('/error');
    expect([failed.status, failed.json()]).toEqual([500, { error: 'the route failed' }]);
  });
});
