import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { addRequestHeaders, parseTarget, type Environ, type ErrorStream } from '@ngi/core';

export type NodeRequest = IncomingMessage | Http2ServerRequest;
export type NodeResponse = ServerResponse | Http2ServerResponse;

const EMPTY_INPUT: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };
const VERSION = Object.freeze([1, 0] as const);

/** The environ of §2–§5 for a Node request. Throws an HttpError 400 for a malformed target. */
export function environFrom(req: NodeRequest, res: NodeResponse, errors: ErrorStream, multiprocess: boolean): Environ {
  const target = parseTarget(req.url ?? '/');
  const socket = req.socket;
  const environ: Environ = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: target.path,
    QUERY_STRING: target.query,
    SERVER_NAME: '',
    SERVER_PORT: '',
    SERVER_PROTOCOL: req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
    'ngi.version': VERSION,
    'ngi.url_scheme': (socket as TLSSocket).encrypted ? 'https' : 'http',
    'ngi.input': hasBody(req) ? inputOf(req, res) : EMPTY_INPUT,
    'ngi.errors': errors,
    'ngi.multithread': false,
    'ngi.multiprocess': multiprocess,
    'ngi.run_once': false,
    'ngi.signal': signalOf(res),
    'ngi.raw_path': target.rawPath,
  };
  if (socket.remoteAddress !== undefined) environ.REMOTE_ADDR = socket.remoteAddress;
  if (socket.remotePort !== undefined) environ.REMOTE_PORT = String(socket.remotePort);
  addRequestHeaders(environ, req.rawHeaders);
  setServerAddress(environ, environ.HTTP_HOST, socket.localAddress, socket.localPort);
  return environ;
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address (§3.7). */
function setServerAddress(environ: Environ, host: string | undefined, address?: string, port?: number): void {
  const scheme = environ['ngi.url_scheme'];
  if (host) {
    const colon = host.lastIndexOf(':');
    if (colon > host.lastIndexOf(']')) {
      environ.SERVER_NAME = host.slice(0, colon);
      environ.SERVER_PORT = host.slice(colon + 1);
      return;
    }
    environ.SERVER_NAME = host;
    environ.SERVER_PORT = scheme === 'https' ? '443' : '80';
    return;
  }
  environ.SERVER_NAME = address ?? 'localhost';
  environ.SERVER_PORT = String(port ?? (scheme === 'https' ? 443 : 80));
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

function hasBody(req: NodeRequest): boolean {
  const headers = req.headers;
  const length = headers['content-length'];
  if (length !== undefined) return length !== '0';
  return headers['transfer-encoding'] !== undefined || req.httpVersionMajor === 2;
}

/**
 * `ngi.input` over the request stream: backpressure comes from the stream's own
 * buffering; `Expect: 100-continue` is answered on first read (§12.4).
 */
function inputOf(req: NodeRequest, res: NodeResponse): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    [Symbol.asyncIterator]() {
      if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
      used = true;
      const http1 = res as ServerResponse & { _sent100?: boolean };
      if (req.headers.expect === '100-continue' && !http1._sent100 && typeof http1.writeContinue === 'function') {
        http1.writeContinue();
      }
      // An app that stops reading early must not destroy the request, and with it the
      // socket the response still needs: what it leaves is drained instead (§12.3).
      const iterator = (req as IncomingMessage).iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
      openInputs.set(req, iterator);
      return iterator;
    },
  };
}
