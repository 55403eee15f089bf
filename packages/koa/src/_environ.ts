import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { addRequestHeaders, type Environ, type ErrorStream } from '@ngi/core';
import { environSymbol } from '@ngi/node';
import type { Context, Middleware } from 'koa';
import { inputOf, type Input } from './_input.ts';
import { pathsOf } from './_paths.ts';

/** What `toKoa`'s options fix for every request. */
export interface Settings {
  errors: ErrorStream | undefined;
  multiprocess: boolean | undefined;
  drainLimit: number;
}

/** Makes `ngi.signal` when it is first read: an AbortController costs more than the rest of environ (whatwg-node PR #1884). */
export interface SignalSource {
  readonly signal: AbortSignal;
}

const VERSION = Object.freeze([1, 0] as const);
const SOURCE = Symbol('ngi.koa.signal');

/** `ngi.input` of a request without a body; it never records use, as there is nothing to lose. */
const EMPTY: Input = {
  used: false,
  async *[Symbol.asyncIterator]() {},
};

const stderrErrors: ErrorStream = {
  write: (message) => void process.stderr.write(message),
  flush() {},
};

// One shared getter keeps every environ on one shape.
const lazySignal: PropertyDescriptor = {
  get(this: { [SOURCE]: SignalSource }) {
    return this[SOURCE].signal;
  },
  enumerable: true,
  configurable: true,
};

/**
 * The environ of §2–§5 for the request in `ctx`, and its `ngi.input`. Under `fromKoa` the
 * request carries the outer environ, whose prefix, raw path and error stream carry on.
 * Throws an `HttpError` 400 for a malformed path.
 */
export function environOf(ctx: Context, self: Middleware, settings: Settings, source: SignalSource): [Environ, Input] {
  const req = ctx.req as IncomingMessage & { [environSymbol]?: Environ };
  const outer = req[environSymbol];
  const paths = pathsOf(ctx, self, outer);
  const socket = req.socket;
  const environ = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: paths.SCRIPT_NAME,
    PATH_INFO: paths.PATH_INFO,
    QUERY_STRING: paths.QUERY_STRING,
    SERVER_NAME: '',
    SERVER_PORT: '',
    SERVER_PROTOCOL: req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
    'ngi.version': VERSION,
    'ngi.url_scheme': (socket as TLSSocket).encrypted ? 'https' : 'http',
    'ngi.input': EMPTY,
    'ngi.errors': settings.errors ?? outer?.['ngi.errors'] ?? stderrErrors,
    'ngi.multithread': false,
    'ngi.multiprocess': settings.multiprocess ?? outer?.['ngi.multiprocess'] ?? false,
    'ngi.run_once': false,
    'ngi.raw_path': paths.rawPath,
    'koa.ctx': ctx,
    [SOURCE]: source,
  } as unknown as Environ;
  Object.defineProperty(environ, 'ngi.signal', lazySignal);
  if (socket.remoteAddress !== undefined) environ.REMOTE_ADDR = socket.remoteAddress;
  if (socket.remotePort !== undefined) environ.REMOTE_PORT = String(socket.remotePort);
  addRequestHeaders(environ, req.rawHeaders);
  setServerAddress(environ, socket);
  if (!hasBody(environ, req)) return [environ, EMPTY];
  const input = inputOf(ctx, environ, settings.drainLimit);
  environ['ngi.input'] = input;
  return [environ, input];
}

function hasBody(environ: Environ, req: IncomingMessage): boolean {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return length !== '0';
  return environ.HTTP_TRANSFER_ENCODING !== undefined || req.httpVersionMajor === 2;
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address (§3.7). */
function setServerAddress(environ: Environ, socket: IncomingMessage['socket']): void {
  const host = environ.HTTP_HOST;
  const https = environ['ngi.url_scheme'] === 'https';
  if (host) {
    const colon = host.lastIndexOf(':');
    const hasPort = colon > host.lastIndexOf(']');
    environ.SERVER_NAME = hasPort ? host.slice(0, colon) : host;
    environ.SERVER_PORT = hasPort ? host.slice(colon + 1) : https ? '443' : '80';
    return;
  }
  environ.SERVER_NAME = socket.localAddress ?? 'localhost';
  environ.SERVER_PORT = String(socket.localPort ?? (https ? 443 : 80));
}
