import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { HttpError, abortWatchSymbol, addRequestHeaders, parseTarget, watchSignal, type AbortWatch, type Environ, type ErrorStream } from '@ngi/core';

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** `ngi.input` of a request without a body. */
export const EMPTY_INPUT: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };
const VERSION = Object.freeze([1, 0] as const);

const RESPONSE = Symbol('ngi.node.response');
const SIGNAL = Symbol('ngi.node.signal');
/** An adapter's own maker of `ngi.signal`, set by `setSignalSource`. */
const SOURCE = Symbol('ngi.node.signal_source');

/** What makes `ngi.signal` when it is first read. */
export interface SignalSource {
  readonly signal: AbortSignal;
}

type NodeEnviron = Environ & { [RESPONSE]: NodeResponse; [SIGNAL]?: AbortSignal; [SOURCE]?: SignalSource; [abortWatchSymbol]: AbortWatch };

// An AbortController costs more than the rest of the environ together (whatwg-node PR #1884),
// so `ngi.signal` is made on first read. One shared getter keeps every environ on one shape.
const lazySignal: PropertyDescriptor = {
  get(this: NodeEnviron) {
    return (this[SIGNAL] ??= this[SOURCE]?.signal ?? signalOf(this[RESPONSE]));
  },
  enumerable: true,
  configurable: true,
};

/**
 * How runApp and fromNodeListener learn that the client went away without making `ngi.signal`:
 * the response closing unfinished, as `signalOf` would abort it. Once the signal exists, or an
 * adapter's own source makes it (which can abort for other reasons), it is the signal.
 */
const nodeWatch: AbortWatch = {
  getter: lazySignal.get as () => AbortSignal,
  aborted(environ) {
    const node = environ as NodeEnviron;
    if (node[SIGNAL] !== undefined || node[SOURCE] !== undefined) return environ['ngi.signal'].aborted;
    const res = node[RESPONSE];
    return res.destroyed && !res.writableFinished;
  },
  watch(environ, listener) {
    const node = environ as NodeEnviron;
    if (node[SIGNAL] !== undefined || node[SOURCE] !== undefined) return watchSignal(environ['ngi.signal'], listener);
    const res = node[RESPONSE];
    const closed = (): void => void (res.writableFinished || listener.handleEvent());
    res.once('close', closed);
    return () => void res.off('close', closed);
  },
};

/** Has `ngi.signal` come from `source` when first read, instead of from the response's 'close'. */
export function setSignalSource(environ: Environ, source: SignalSource): void {
  (environ as NodeEnviron)[SOURCE] = source;
}

/** What environFrom needs beyond the request. */
export interface EnvironOptions {
  errors: ErrorStream;
  multiprocess: boolean;
  /** The largest request body accepted; past it, a 413 (§4.3). */
  maxBodySize: number;
  /** The full request target, when a framework has already cut `req.url` down. */
  target?: string | undefined;
  /** The decoded mount prefix that becomes `SCRIPT_NAME`; the target's path starts with it. */
  scriptName?: string | undefined;
}

/** The environ of §2–§5 for a Node request. Throws an HttpError 400 for a malformed target. */
export function environFrom(req: NodeRequest, res: NodeResponse, options: EnvironOptions): Environ {
  const target = parseTarget(options.target ?? req.url ?? '/');
  const scriptName = options.scriptName ?? '';
  const socket = req.socket;
  const environ = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: scriptName,
    PATH_INFO: scriptName === '' ? target.path : pathUnder(target.path, scriptName),
    QUERY_STRING: target.query,
    SERVER_NAME: '',
    SERVER_PORT: '',
    SERVER_PROTOCOL: req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
    'ngi.version': VERSION,
    'ngi.url_scheme': (socket as TLSSocket).encrypted ? 'https' : 'http',
    'ngi.input': EMPTY_INPUT,
    'ngi.errors': options.errors,
    'ngi.multithread': false,
    'ngi.multiprocess': options.multiprocess,
    'ngi.run_once': false,
    'ngi.raw_path': target.rawPath,
    [RESPONSE]: res,
    [abortWatchSymbol]: nodeWatch,
  } as NodeEnviron;
  Object.defineProperty(environ, 'ngi.signal', lazySignal);
  if (socket.remoteAddress !== undefined) environ.REMOTE_ADDR = socket.remoteAddress;
  if (socket.remotePort !== undefined) environ.REMOTE_PORT = String(socket.remotePort);
  // Headers come from rawHeaders: `req.headers` is built lazily by Node, and costs.
  addRequestHeaders(environ, req.rawHeaders);
  if (hasBody(environ, req)) {
    if (Number(environ.CONTENT_LENGTH) > options.maxBodySize) throw tooLarge(options.maxBodySize);
    environ['ngi.input'] = inputOf(req, res, environ.HTTP_EXPECT === '100-continue', options.maxBodySize);
  }
  setServerAddress(environ, socket);
  return environ;
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address (§3.7). */
function setServerAddress(environ: Environ, socket: NodeRequest['socket']): void {
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

/** Aborts when the response closes unfinished: the client left, not a normal end (srvx#152). */
function signalOf(res: NodeResponse): AbortSignal {
  const controller = new AbortController();
  const abort = (): void => controller.abort(new Error('The client disconnected'));
  if (res.destroyed && !res.writableFinished) abort();
  else res.once('close', () => res.writableFinished || abort());
  return controller.signal;
}

const openInputs = new WeakMap<NodeRequest, AsyncIterator<Uint8Array>>();

/** Ends an iteration of `ngi.input` the application left open, so the rest can be drained. */
export function releaseInput(req: NodeRequest): void {
  const iterator = openInputs.get(req);
  if (iterator === undefined) return;
  openInputs.delete(req);
  void iterator.return?.()?.catch(() => {});
}

/** The rest of `path` under the mount prefix `scriptName` (§3.4); a TypeError if it is not under it. */
function pathUnder(path: string, scriptName: string): string {
  const rest = path.slice(scriptName.length);
  if (path.startsWith(scriptName) && (rest === '' || rest.charCodeAt(0) === 47)) return rest;
  throw new TypeError(`the request path ${JSON.stringify(path)} is not under the mount prefix ${JSON.stringify(scriptName)}`);
}

function hasBody(environ: Environ, req: NodeRequest): boolean {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return length !== '0';
  return environ.HTTP_TRANSFER_ENCODING !== undefined || req.httpVersionMajor === 2;
}

/**
 * `ngi.input` over the request stream: backpressure comes from the stream's own
 * buffering; `Expect: 100-continue` is answered on first read (§12.4).
 */
function inputOf(req: NodeRequest, res: NodeResponse, expectsContinue: boolean, max: number): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    [Symbol.asyncIterator]() {
      if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
      used = true;
      const http1 = res as ServerResponse & { _sent100?: boolean };
      if (expectsContinue && !http1._sent100 && typeof http1.writeContinue === 'function') http1.writeContinue();
      // An app that stops reading early must not destroy the request, and with it the
      // socket the response still needs: what it leaves is drained instead (§12.3).
      const iterator = (req as IncomingMessage).iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
      openInputs.set(req, iterator);
      return max === Infinity ? iterator : limited(iterator, max);
    },
  };
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, `Request body exceeds the limit of ${max} bytes`);
}

/** A body without Content-Length is counted as it streams: past `max`, reading it fails with a 413. */
function limited(iterator: AsyncIterator<Uint8Array>, max: number): AsyncIterator<Uint8Array> {
  let seen = 0;
  return {
    async next() {
      const step = await iterator.next();
      if (!step.done && (seen += step.value.byteLength) > max) {
        await iterator.return?.();
        throw tooLarge(max);
      }
      return step;
    },
    return: () => iterator.return?.() ?? Promise.resolve({ done: true, value: undefined }),
  };
}
