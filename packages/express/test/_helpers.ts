import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Application, ErrorStream } from '@ngi/core';
import { serve } from '@ngi/node';
import { afterEach } from 'vitest';

export { fetchRaw, follow, open, type RawRequest, type RawResponse } from '../../../test/conformance/client.ts';

/** A running server for one test. */
export interface Running {
  url: string;
  close(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

/** Serves a Node listener (an Express app) natively on 127.0.0.1; closed after the test unless `keep`. */
export async function listen(listener: RequestListener, keep = false): Promise<Running> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: Running = {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  if (!keep) running.push(handle);
  return handle;
}

/** Serves an NGI application with `@ngi/node`; closed after the test unless `keep`. */
export async function listenApp(app: Application, errors: ErrorStream = quiet, keep = false, maxBodySize?: number): Promise<Running> {
  const server = await serve(app, { port: 0, errors, gracefulTimeout: 0, maxBodySize });
  const handle: Running = { url: server.url, close: () => server.close() };
  if (!keep) running.push(handle);
  return handle;
}

/** Swallows what the server logs. */
export const quiet: ErrorStream = { write() {}, flush() {} };

/** Collects what the server logs. */
export function recorder(): ErrorStream & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line), flush() {} };
}

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
export const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

/** A promise and its resolver, for steps a test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds (or about two seconds pass) and returns the last value. */
export async function waitFor<T>(read: () => T, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = read();
    if (done(value) || i > 200) return value;
    await sleep(10);
  }
}
