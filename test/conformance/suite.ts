import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import type { Application } from '@ngi/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, fetchRaw, open, parseResponse } from './client.ts';
import { fixture } from './fixture.ts';

/** A running server for one configuration. */
export interface ConformanceServer {
  url: string;
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** Names the configuration in test titles. */
  name: string;
  /** Serves `app` (the shared fixture) through the configuration under test. */
  makeServer(app: Application): Promise<ConformanceServer>;
  /** Tests this configuration cannot pass, each with its reason. */
  skip?: { reason: string; tests: string[] }[];
}

type Case = [title: string, run: (url: string) => Promise<void>];

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await read();
    if (done(value) || i > 200) return value;
    await sleep(10);
  }
}

/** Resolves with what `work` settles to, or with 'timed out' after `ms`: a stalled exchange fails instead of hanging. */
async function within<T>(ms: number, work: Promise<T>): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => (timer = setTimeout(resolve, ms, 'timed out')));
  try {
    return await Promise.race([work.catch((error: Error) => `failed: ${error.message}`), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `first`, whose response has no body (§10.3), and pipelined behind it on the same
 * connection a GET of /echo that closes it. The second response must start right after the
 * first head: a stray body byte between them fails. Returns the first response's head.
 */
async function bodylessThenEcho(url: string, first: string) {
  const host = `Host: ${new URL(url).host}\r\n`;
  const wire = await exchange(url, `${first} HTTP/1.1\r\n${host}\r\n` + `GET /echo HTTP/1.1\r\n${host}Connection: close\r\n\r\n`);
  const head = parseResponse(wire, 0, true);
  expect(wire.subarray(head.end, head.end + 9).toString('latin1')).toBe('HTTP/1.1 ');
  const next = parseResponse(wire, head.end);
  expect([next.status, JSON.parse(next.body.toString('utf8')).method, next.end]).toEqual([200, 'GET', wire.length]);
  return { status: head.status, header: (name: string) => head.headers.find(([n]) => n === name)?.[1] };
}

async function* chunks(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const cases: Case[] = [
  ['§3.1 methods reach the app', async (url) => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      expect((await fetchRaw(url, '/echo', { method })).json().method).toBe(method);
    }
  }],
  ['§6.1 status codes pass through', async (url) => {
    for (const code of [200, 201, 202, 400, 404, 418, 500, 503]) {
      const res = await fetchRaw(url, `/status/${code}`);
      expect([res.status, res.header('x-code')]).toEqual([code, String(code)]);
    }
  }],
  ['§6.1 the reason phrase passes through', async (url) => {
    expect((await fetchRaw(url, '/status/202')).statusText).toBe('Custom Reason');
  }],
  ['§3.5 query strings stay raw: unicode, repeated and empty keys', async (url) => {
    const query = 'q=%E2%9C%93&q=2&empty=&flag&plus=a+b';
    expect((await fetchRaw(url, `/echo?${query}`)).json().query).toBe(query);
  }],
  ['§3.3 §4.7 percent-encoded paths are decoded in PATH_INFO and raw in ngi.raw_path', async (url) => {
    const body = (await fetchRaw(url, '/echo/a%20b/%E2%9C%93/x')).json();
    expect([body.scriptName, body.pathInfo]).toEqual(['/echo', '/a b/✓/x']);
    expect(body.rawPath).toBe('/echo/a%20b/%E2%9C%93/x');
  }],
  ['§3.3 §14.2 %2F is "/" in PATH_INFO, or a 308 to the path with "/" where the host routes on the path as sent', async (url) => {
    const res = await fetchRaw(url, '/mnt/echo/x%2Fy?z');
    // Express and Koa would route `/mnt/echo/x%2Fy` otherwise than the application `/mnt/echo/x/y`.
    if (res.status === 308) {
      // toFetch's is relative: a fetch router may have cut its mount prefix from the URL it was given.
      const location = new URL(res.header('location')!, `${url}/mnt/echo/x%2Fy?z`);
      expect(location.pathname + location.search).toBe('/mnt/echo/x/y?z');
      return;
    }
    const body = res.json();
    expect([body.scriptName, body.pathInfo, body.rawPath, body.query]).toEqual(['/mnt/echo', '/x/y', '/mnt/echo/x%2Fy', 'z']);
  }],
  ['§5.2 §5.3 request headers: repeats joined, cookies with "; ", "_" names dropped', async (url) => {
    const headers: [string, string][] = [['x-dup', 'a'], ['x-dup', 'b'], ['cookie', 'c=1'], ['cookie', 'd=2'], ['x_spoof', 'no'], ['x-spoof', 'yes']];
    const seen = (await fetchRaw(url, '/echo', { headers })).json().headers;
    expect(seen).toMatchObject({ HTTP_X_DUP: 'a, b', HTTP_COOKIE: 'c=1; d=2', HTTP_X_SPOOF: 'yes' });
  }],
  ['§6.3 repeated response headers are all sent (set-cookie)', async (url) => {
    const res = await fetchRaw(url, '/cookies');
    expect(res.all('set-cookie')).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
  }],
  ['§6.1 §6.2 a header value\'s and reason\'s octets past ASCII go out as one byte each, with a string body', async (url) => {
    const wire = await exchange(url, `GET /latin1 HTTP/1.1\r\nHost: ${new URL(url).host}\r\nConnection: close\r\n\r\n`);
    const response = parseResponse(wire);
    const statusLine = wire.subarray(0, wire.indexOf('\r\n')).toString('latin1');
    // A host that sends no reason phrase of the application's own (a fetch Response) sends its standard one.
    const value = response.headers.find(([name]) => name === 'x-latin1')?.[1];
    expect([value, /^HTTP\/1\.1 200 (?:Caf\xe9|OK)$/.test(statusLine), response.body.toString()]).toEqual(['caf\xe9 \xff', true, 'ok']);
  }],
  ['§6.3 a repeated response field is sent as one field line each, not folded', async (url) => {
    expect((await fetchRaw(url, '/cookies')).all('x-multi')).toEqual(['one', 'two']);
  }],
  ['§3.7 SERVER_NAME and SERVER_PORT come from Host: a name, a port, an IPv6 literal in brackets, the default port', async (url) => {
    const seen = [];
    for (const host of ['example.com', 'Example.com:8080', '[::1]:9000', '[::1]']) seen.push((await fetchRaw(url, '/echo', { headers: [['host', host]] })).json().server);
    expect(seen).toEqual([['example.com', '80'], ['Example.com', '8080'], ['[::1]', '9000'], ['[::1]', '80']]);
  }],
  ['§3.7 §3.9 without a Host (HTTP/1.0), SERVER_NAME and SERVER_PORT are the local address; REMOTE_ADDR is the client', async (url) => {
    const { hostname, port } = new URL(url);
    const response = parseResponse(await exchange(url, 'GET /echo HTTP/1.0\r\n\r\n'));
    expect([response.status, JSON.parse(response.body.toString()).server, JSON.parse(response.body.toString()).remoteAddr]).toEqual([200, [hostname, port], hostname]);
  }],
  ['large request and response headers', async (url) => {
    const big = 'x'.repeat(8000);
    expect((await fetchRaw(url, '/echo', { headers: { 'x-large': big } })).json().headers.HTTP_X_LARGE).toBe(big);
    expect((await fetchRaw(url, '/big-header')).header('x-big')).toHaveLength(8000);
  }],
  ['§4.3 binary uploads arrive intact (Content-Length)', async (url) => {
    const bytes = randomBytes(1024 * 1024 + 17);
    const res = await fetchRaw(url, '/upload', { method: 'POST', body: bytes });
    expect(res.json()).toEqual({ size: bytes.length, sha256: sha(bytes) });
  }],
  ['§4.3 binary uploads arrive intact (chunked)', async (url) => {
    const bytes = randomBytes(300_000);
    const res = await fetchRaw(url, '/upload', { method: 'POST', body: chunks(bytes, 7001) });
    expect(res.json()).toEqual({ size: bytes.length, sha256: sha(bytes) });
  }],
  ['§4.3 a streamed request body can be streamed back', async (url) => {
    // Ping-pong: 'pong' goes out only once 'ping;' has come back, so a server that holds the
    // request body (or the response) until the request ends stalls, and fails here.
    let heard!: () => void;
    const echoed = new Promise<void>((resolve) => (heard = resolve));
    async function* body() {
      yield 'ping;';
      await echoed;
      yield 'pong';
    }
    const stop = new AbortController();
    const run = async () => {
      const res = await open(url, '/mirror', { method: 'POST', body: body(), headers: { 'content-type': 'application/x-test' }, signal: stop.signal });
      let text = '';
      for await (const chunk of res) if ((text += String(chunk)).length >= 'ping;'.length) heard();
      return [text, res.headers['content-type']];
    };
    const outcome = await within(5000, run());
    stop.abort();
    heard();
    expect(outcome).toEqual(['ping;pong', 'application/x-test']);
  }],
  ['§9.2 binary responses arrive intact', async (url) => {
    const res = await fetchRaw(url, '/bytes/100000');
    const expected = new Uint8Array(100000).map((_, i) => (i * 31 + 7) & 255);
    expect([res.header('content-length'), sha(res.body)]).toEqual(['100000', sha(expected)]);
  }],
  ['empty request and response bodies', async (url) => {
    expect((await fetchRaw(url, '/upload', { method: 'POST', body: '' })).json()).toMatchObject({ size: 0 });
    const res = await fetchRaw(url, '/empty');
    expect([res.status, res.body.length, res.header('content-length')]).toEqual([200, 0, '0']);
  }],
  ['§9.3 streaming: the first chunk arrives before the body ends', async (url) => {
    const id = randomUUID();
    const res = await open(url, `/stream/${id}`);
    const reader = res[Symbol.asyncIterator]();
    expect(String((await reader.next()).value)).toBe('first;');
    await fetchRaw(url, `/release/${id}`);
    let rest = '';
    for (let step = await reader.next(); !step.done; step = await reader.next()) rest += String(step.value);
    expect(rest).toBe('second');
  }],
  ['§8.3 event streams: the head arrives before any event', async (url) => {
    const id = randomUUID();
    const res = await open(url, `/sse/${id}`);
    expect(res.headers['content-type']).toBe('text/event-stream');
    await fetchRaw(url, `/release/${id}`);
    let events = '';
    for await (const chunk of res) events += String(chunk);
    expect(events).toBe('data: one\n\ndata: two\n\n');
  }],
  ['§10.3 HEAD sends no body and keeps Content-Length', async (url) => {
    const res = await bodylessThenEcho(url, 'HEAD /bytes/1000');
    expect([res.status, res.header('content-length')]).toEqual([200, '1000']);
  }],
  ['§10.3 204 and 304 send no body', async (url) => {
    for (const code of [204, 304]) {
      const res = await bodylessThenEcho(url, `GET /status/${code}`);
      expect([res.status, res.header('x-code')]).toEqual([code, String(code)]);
    }
  }],
  ['§11.1 an error before the head is a 500', async (url) => {
    expect((await fetchRaw(url, '/error-before')).status).toBe(500);
  }],
  ['§11.2 an error after the head cuts the response short', async (url) => {
    await expect(fetchRaw(url, '/error-after')).rejects.toThrow();
  }],
  ['§12.1 §9.4 a client abort aborts ngi.signal and calls close() once', async (url) => {
    const id = randomUUID();
    const res = await open(url, `/forever/${id}`);
    await res[Symbol.asyncIterator]().next();
    res.destroy();
    const stats = await waitFor(() => fetchRaw(url, `/stats/${id}`).then((r) => r.json()), (s) => s?.closed === 1);
    await sleep(30);
    expect(await fetchRaw(url, `/stats/${id}`).then((r) => r.json())).toMatchObject({ closed: 1, aborted: true });
    expect(stats.closed).toBe(1);
  }],
  ['§4.3 ngi.input begun after the response is over throws a TypeError, rather than give a drained body as complete', async (url) => {
    const id = randomUUID();
    expect((await fetchRaw(url, `/read-late/${id}`, { method: 'POST', body: randomBytes(1000) })).status).toBe(202);
    expect(await waitFor(() => fetchRaw(url, `/late/${id}`).then((r) => r.json()), (outcome) => outcome !== null)).toBe('TypeError');
  }],
  ['§12.2 after a complete HEAD, 204, 500, or response to a client that asked to close, ngi.signal does not abort', async (url) => {
    const ids: string[] = [];
    for (const [method, status, headers] of [['HEAD', '200', {}], ['GET', '204', {}], ['GET', '500', {}], ['GET', '200', { connection: 'close' }], ['GET', '500', { connection: 'close' }]] as const) {
      const id = randomUUID();
      ids.push(id);
      await fetchRaw(url, `/settle/${id}?status=${status}`, { method, headers });
    }
    // Long enough for a late abort, from a connection closed after the answer, to show.
    await sleep(150);
    const seen = await Promise.all(ids.map((id) => fetchRaw(url, `/stats/${id}`).then((r) => r.json())));
    expect(seen.map((record) => record.aborted)).toEqual([false, false, false, false, false]);
  }],
  ['§4.3 §12.1 a client that leaves mid-upload makes reading ngi.input throw, whether the body has a length or is chunked', async (url) => {
    const { hostname, port, host } = new URL(url);
    for (const framing of ['Content-Length: 100000\r\n\r\n', 'Transfer-Encoding: chunked\r\n\r\n3e8\r\n']) {
      const id = randomUUID();
      const socket = connect(Number(port), hostname);
      socket.on('error', () => {});
      socket.write(`POST /read-all/${id} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/octet-stream\r\n${framing}` + 'x'.repeat(1000));
      await sleep(50);
      socket.destroy();
      const outcome = await waitFor(() => fetchRaw(url, `/late/${id}`).then((r) => r.json()), (value) => value !== null);
      // Whatever the error, the body never ends as if complete.
      expect([framing.split(':')[0], outcome]).toEqual([framing.split(':')[0], expect.stringMatching(/^(?!read \d+ bytes$)/)]);
    }
  }],
  ['§12.2 a normal response does not abort ngi.signal', async (url) => {
    const id = randomUUID();
    const res = open(url, `/stream/${id}`);
    await sleep(20);
    await fetchRaw(url, `/release/${id}`);
    for await (const _ of await res) void _;
    await sleep(20);
    expect((await fetchRaw(url, `/stats/${id}`)).json()).toMatchObject({ closed: 1, aborted: false });
  }],
  ['§12.3 an unread request body does not stall the keep-alive connection', async (url) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchRaw(url, '/echo', { method: 'POST', body: randomBytes(100_000), agent });
      const second = await fetchRaw(url, '/echo', { agent });
      expect([first.status, second.status]).toEqual([200, 200]);
    } finally {
      agent.destroy();
    }
  }],
  ['§3.2 §14.2 a mount prefix moves into SCRIPT_NAME', async (url) => {
    const body = (await fetchRaw(url, '/mnt/echo/x%20y?z')).json();
    expect([body.scriptName, body.pathInfo, body.rawPath, body.query]).toEqual(['/mnt/echo', '/x y', '/mnt/echo/x%20y', 'z']);
  }],
];

/** Runs every conformance case against one configuration, over a real socket. */
export function runConformance(options: ConformanceOptions): void {
  const skipped = new Map<string, string>();
  for (const { reason, tests } of options.skip ?? []) {
    if (!reason?.trim()) throw new Error(`runConformance: skip entries need a reason (${JSON.stringify(tests)} in ${JSON.stringify(options.name)})`);
    for (const test of tests) skipped.set(test, reason);
  }
  for (const title of skipped.keys()) {
    if (!cases.some(([name]) => name === title)) throw new Error(`runConformance: a skip names no test, ${JSON.stringify(title)} (stale skip in ${JSON.stringify(options.name)})`);
  }
  describe(`conformance: ${options.name}`, () => {
    let server: ConformanceServer;
    beforeAll(async () => {
      server = await options.makeServer(fixture);
    });
    afterAll(() => server?.close());
    for (const [title, run] of cases) {
      const reason = skipped.get(title);
      it.skipIf(reason !== undefined)(reason ? `${title} (skipped: ${reason})` : title, () => run(server.url));
    }
  });
}
