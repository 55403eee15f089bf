import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach } from 'vitest';

// The raw HTTP client of the conformance suite: the path goes out byte for byte.
export { open, fetchRaw as send, type RawResponse as Received, type RawRequest as Send } from '../../../test/conformance/client.ts';

const running: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((fastify) => fastify.close()));
});

/** A Fastify instance, closed after the test. */
export function server(options: FastifyServerOptions = {}): FastifyInstance {
  const fastify = Fastify(options);
  running.push(fastify);
  return fastify;
}

/** Starts `fastify` on 127.0.0.1 and returns its base URL. */
export async function listen(fastify: FastifyInstance): Promise<string> {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
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
