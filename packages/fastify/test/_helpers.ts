import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** A response read whole: raw header pairs (names lower-cased) and the body bytes. */
export interface Received {
  status: number;
  statusText: string;
  headers: [string, string][];
  header(name: string): string | undefined;
  all(name: string): string[];
  body: Buffer;
  text(): string;
  json(): any;
}

export interface Send {
  method?: string;
  headers?: OutgoingHttpHeaders;
  /** Sent whole; an async iterable goes out chunked, each chunk as the iterable yields it. */
  body?: string | Uint8Array | AsyncIterable<Uint8Array | string>;
}

/** Starts `fastify` on 127.0.0.1 and returns its base URL. */
export async function listen(fastify: FastifyInstance): Promise<string> {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
}

/** Sends a request with the path byte for byte (no client-side normalization) and resolves at the head. */
export function open(base: string, path: string, init: Send = {}): Promise<IncomingMessage> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: init.method ?? 'GET', headers: init.headers, agent: false });
    req.once('response', resolve);
    req.once('error', reject);
    const body = init.body;
    if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    void (async () => {
      for await (const chunk of body) req.write(chunk);
      req.end();
    })().catch((error: Error) => req.destroy(error));
  });
}

/** Sends a request and reads the whole response; rejects when the response is cut short. */
export async function send(base: string, path: string, init: Send = {}): Promise<Received> {
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

/** A promise with its resolve function, for steps a test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true (or a second passes) and returns its last answer. */
export async function until(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100 && !check(); i++) await sleep(10);
  return check();
}

/** A pino destination that keeps every log line as parsed JSON. */
export function logLines(): { stream: Writable; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, any>);
      callback();
    },
  });
  return { stream, lines };
}
