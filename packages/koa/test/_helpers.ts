import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Application, Environ, ErrorStream } from '@ngi/core';
import Koa from 'koa';

export { fetchRaw, follow, open, type RawRequest, type RawResponse } from '../../../test/conformance/client.ts';

/** An `ngi.errors` that keeps what is written, for tests to read. */
export function errorLog(): ErrorStream & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (message) => void lines.push(message), flush() {} };
}

const koaErrors = new WeakMap<object, Error[]>();

/** A Koa app whose error log stays quiet; its 'error' events are collected for `errorsOf`. */
export function quietKoa(): Koa {
  const app = new Koa();
  const errors: Error[] = [];
  koaErrors.set(app, errors);
  app.on('error', (error: Error) => void errors.push(error));
  return app;
}

/** The 'error' events a `quietKoa` app emitted. */
export function errorsOf(app: object): (Error & { expose?: boolean })[] {
  return koaErrors.get(app) ?? [];
}

/** Anything with Koa's `callback()`, whatever its state and context types. */
export interface Listenable {
  callback(): RequestListener;
}

export interface Running {
  url: string;
  close(): Promise<void>;
}

const running = new Set<Running>();

/** Serves a Koa app on 127.0.0.1, port 0; `closeAll()` stops every server started. */
export async function listen(app: Listenable): Promise<Running> {
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: Running = {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        running.delete(handle);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  running.add(handle);
  return handle;
}

export async function closeAll(): Promise<void> {
  await Promise.all([...running].map((handle) => handle.close()));
}

/** What the echo callable reports of its environ. */
export interface Seen {
  method: string;
  scriptName: string;
  pathInfo: string;
  rawPath: string;
  query: string;
  contentLength: string | null;
  hasKoaCtx: boolean;
}

/** A callable that answers with the CGI keys it was given, as JSON. */
export const echo: Application = (environ: Environ, startResponse) => {
  const seen: Seen = {
    method: environ.REQUEST_METHOD,
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    rawPath: environ['ngi.raw_path'],
    query: environ.QUERY_STRING,
    contentLength: environ.CONTENT_LENGTH ?? null,
    hasKoaCtx: typeof environ['koa.ctx'] === 'object',
  };
  const body = JSON.stringify(seen);
  startResponse('200 OK', [['content-type', 'application/json'], ['content-length', String(Buffer.byteLength(body))]]);
  return [body];
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
