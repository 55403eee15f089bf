import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { addRequestHeaders, type Environ, type ErrorStream, type ParsedTarget } from '@ngi/core';
import { baseUrlSymbol, environSymbol } from '@ngi/node';
import type { FastifyRequest } from 'fastify';

/** What the environ needs from the plugin's options. */
export interface EnvironSettings {
  /** `ngi.errors`; `undefined` writes to the request's logger. */
  errors: ErrorStream | undefined;
  multiprocess: boolean;
}

/** A request that may come from `fromNodeListener` (the Fastify app is itself a callable). */
export type RawRequest = IncomingMessage & { [environSymbol]?: Environ; [baseUrlSymbol]?: string };

/** `ngi.input` of a request without a body. */
const EMPTY_INPUT: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };
const VERSION = Object.freeze([1, 0] as const);

const RESPONSE = Symbol('ngi.fastify.response');
const SIGNAL = Symbol('ngi.fastify.signal');
type FastifyEnviron = Environ & { [RESPONSE]: ServerResponse; [SIGNAL]?: AbortSignal };

// An AbortController costs more than the rest of the environ (whatwg-node PR #1884): made on first read.
const lazySignal: PropertyDescriptor = {
  get(this: FastifyEnviron) {
    return (this[SIGNAL] ??= signalOf(this[RESPONSE]));
  },
  enumerable: true,
  configurable: true,
};

/**
 * The environ of §2–§5 for a request Fastify routed to the plugin, whose decoded path `split`
 * divides into the mount point and the rest; when the Fastify app is itself a callable, the
 * mount point it was given comes first. `ngi.input` is left empty for the caller to set.
 */
export function environOf(
  request: FastifyRequest,
  res: ServerResponse,
  target: ParsedTarget,
  split: [scriptName: string, pathInfo: string],
  settings: EnvironSettings,
): Environ {
  const req = request.raw as RawRequest;
  const outer = req[environSymbol];
  const socket = req.socket;
  const environ = {
    REQUEST_METHOD: req.method ?? 'GET',
    SCRIPT_NAME: outer === undefined ? split[0] : outer.SCRIPT_NAME + split[0],
    PATH_INFO: split[1],
    QUERY_STRING: target.query,
    SERVER_NAME: '',
    SERVER_PORT: '',
    SERVER_PROTOCOL: req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`,
    'ngi.version': VERSION,
    'ngi.url_scheme': (socket as TLSSocket | null)?.encrypted ? 'https' : 'http',
    'ngi.input': EMPTY_INPUT,
    'ngi.errors': settings.errors ?? new RequestLog(request),
    'ngi.multithread': false,
    'ngi.multiprocess': settings.multiprocess,
    'ngi.run_once': false,
    // §4.7: as received, with the prefix of a mount in front of Fastify (fromFastify) that req.url lacks.
    'ngi.raw_path': (req[baseUrlSymbol] ?? '') + target.rawPath,
    'fastify.request': request,
    [RESPONSE]: res,
  } as unknown as FastifyEnviron;
  Object.defineProperty(environ, 'ngi.signal', lazySignal);
  if (socket?.remoteAddress !== undefined) environ.REMOTE_ADDR = socket.remoteAddress;
  if (socket?.remotePort !== undefined) environ.REMOTE_PORT = String(socket.remotePort);
  addRequestHeaders(environ, req.rawHeaders);
  setServerAddress(environ, socket);
  return environ;
}

/** `ngi.errors` by default: Fastify's request logger, so diagnostics carry the request id. */
class RequestLog implements ErrorStream {
  constructor(private readonly request: FastifyRequest) {}

  write(message: string): void {
    this.request.log.error(message.endsWith('\n') ? message.slice(0, -1) : message);
  }

  flush(): void {}
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address, read only then (§3.7). */
function setServerAddress(environ: Environ, socket: IncomingMessage['socket'] | null): void {
  const host = environ.HTTP_HOST;
  const https = environ['ngi.url_scheme'] === 'https';
  if (host) {
    const colon = host.lastIndexOf(':');
    const hasPort = colon > host.lastIndexOf(']');
    environ.SERVER_NAME = hasPort ? host.slice(0, colon) : host;
    environ.SERVER_PORT = hasPort ? host.slice(colon + 1) : https ? '443' : '80';
    return;
  }
  environ.SERVER_NAME = socket?.localAddress || 'localhost';
  environ.SERVER_PORT = String(socket?.localPort ?? (https ? 443 : 80));
}

/** Aborts when the response closes unfinished: the client left, not a normal end (§12.2, srvx#152). */
function signalOf(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const abort = (): void => controller.abort(new Error('The client disconnected'));
  if (res.destroyed && !res.writableFinished) abort();
  else res.once('close', () => res.writableFinished || abort());
  return controller.signal;
}

/** Whether the request carries a body at all (§4.3): a non-zero length, or chunked framing. */
export function hasBody(environ: Environ): boolean {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return length !== '0';
  return environ.HTTP_TRANSFER_ENCODING !== undefined;
}
