import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';

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
