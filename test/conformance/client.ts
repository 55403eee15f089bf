import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';

/** A raw HTTP/1.1 client: the path goes out byte for byte, headers come back in order. */
export interface RawResponse {
  status: number;
  statusText: string;
  /** `[name, value]` pairs as received, names lower-cased. */
  headers: [string, string][];
  header(name: string): string | undefined;
  all(name: string): string[];
  body: Buffer;
  text(): string;
  json(): any;
}

export interface RawRequest {
  method?: string;
  headers?: Record<string, string | string[]> | [string, string][];
  /** A body to send; an async iterable goes out chunked. */
  body?: Uint8Array | string | AsyncIterable<Uint8Array | string>;
  signal?: AbortSignal;
  agent?: Agent;
}

/** Sends a request and resolves at the response head, with the body still streaming. */
export function open(base: string, path: string, init: RawRequest = {}): Promise<IncomingMessage> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    // Raw header lists go out as given, so Node adds no Host: add it as a client would.
    const list = init.headers;
    const headers = Array.isArray(list)
      ? [...(list.some(([n]) => n.toLowerCase() === 'host') ? [] : ['host', url.host]), ...list.flat()]
      : list;
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method: init.method ?? 'GET',
      path,
      headers,
      agent: init.agent ?? false,
      ...(init.signal ? { signal: init.signal } : {}),
    });
    req.once('response', resolve);
    req.once('error', reject);
    const body = init.body;
    if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      } catch (error) {
        req.destroy(error as Error);
      }
    })();
  });
}

/** Sends a request and reads the whole response; rejects if the response is cut short. */
export async function fetchRaw(base: string, path: string, init: RawRequest = {}): Promise<RawResponse> {
  const res = await open(base, path, init);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  if (!res.complete) throw new Error('The response was cut short');
  const body = Buffer.concat(chunks);
  const headers: [string, string][] = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
  return {
    status: res.statusCode!,
    statusText: res.statusMessage ?? '',
    headers,
    header: (name) => headers.find(([n]) => n === name)?.[1],
    all: (name) => headers.filter(([n]) => n === name).map(([, v]) => v),
    body,
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/** One response read off a raw byte stream, with `end` the offset just past it. */
export interface WireResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
  end: number;
}

/**
 * Writes `request` byte for byte on a fresh connection and resolves with every byte the
 * server sends until it closes; rejects if it has not closed within `timeout` ms.
 */
export function exchange(base: string, request: string, timeout = 5000): Promise<Buffer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`The server did not close within ${timeout} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeout);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (error) => (clearTimeout(timer), reject(error)));
    socket.once('close', () => (clearTimeout(timer), resolve(Buffer.concat(chunks))));
    socket.end(request, 'latin1');
  });
}

/**
 * Parses the response that starts at `offset` in `wire`. With `bodyless` (a HEAD, 1xx, 204 or
 * 304) it ends at the blank line after the head, whatever the framing headers say (RFC 9112 §6.3).
 */
export function parseResponse(wire: Buffer, offset = 0, bodyless = false): WireResponse {
  const headEnd = wire.indexOf('\r\n\r\n', offset, 'latin1');
  if (headEnd < 0) throw new Error(`No complete response head at byte ${offset}: ${JSON.stringify(wire.subarray(offset).toString('latin1'))}`);
  const [statusLine = '', ...lines] = wire.subarray(offset, headEnd).toString('latin1').split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`Not a status line at byte ${offset}: ${JSON.stringify(statusLine)}`);
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const header = (name: string) => headers.find(([n]) => n === name)?.[1];
  const start = headEnd + 4;
  if (bodyless) return { status: Number(match[1]), headers, body: Buffer.alloc(0), end: start };
  if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (let at = start; ; ) {
      const lineEnd = wire.indexOf('\r\n', at, 'latin1');
      const size = parseInt(wire.subarray(at, lineEnd).toString('latin1'), 16);
      if (lineEnd < 0 || Number.isNaN(size)) throw new Error(`Bad chunked framing at byte ${at}`);
      if (size === 0) return { status: Number(match[1]), headers, body: Buffer.concat(parts), end: wire.indexOf('\r\n\r\n', lineEnd, 'latin1') + 4 };
      parts.push(wire.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = header('content-length');
  const end = length === undefined ? wire.length : start + Number(length);
  return { status: Number(match[1]), headers, body: wire.subarray(start, end), end };
}

/** Sends a request and follows its 308 redirects (five at the most): the Locations, and the last response. */
export async function follow(url: string, path: string, init: RawRequest = {}): Promise<{ hops: string[]; last: RawResponse }> {
  const hops: string[] = [];
  let res = await fetchRaw(url, path, init);
  while (res.status === 308 && hops.length < 5) {
    hops.push(res.header('location')!);
    res = await fetchRaw(url, hops.at(-1)!, init);
  }
  return { hops, last: res };
}
