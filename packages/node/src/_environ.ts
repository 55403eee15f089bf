import type { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpError, abortWatchSymbol, addRequestHeaders, parseTarget, watchSignal, type AbortWatch, type Environ, type ErrorStream, type HeaderKeys } from '@ngi/core';

/** A request from `node:http`, `node:https` or `node:http2` (compatibility API). */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
/** A response from `node:http`, `node:https` or `node:http2` (compatibility API). */
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
  /** Read once, when the application first reads `ngi.signal`. */
  readonly signal: AbortSignal;
}

/**
 * The environ the server made, from which its copies (made by `copyNodeEnviron` for core's
 * `copyEnviron`) take their request's one `ngi.signal`.
 */
const HOME = Symbol('ngi.node.home');

type NodeEnviron = Environ & {
  [HOME]: NodeEnviron;
  [RESPONSE]: NodeResponse;
  [SIGNAL]: AbortSignal | undefined;
  [SOURCE]: SignalSource | undefined;
  [abortWatchSymbol]: AbortWatch;
};

// An AbortSignal costs more than the rest of the environ together (whatwg-node PR #1884), and
// in Node 20 it outlives minor collections, so `ngi.signal` is made on first read. One shared
// getter keeps every environ on one shape.
function lazySignal(this: NodeEnviron): AbortSignal {
  const home = this[HOME];
  return (home[SIGNAL] ??= home[SOURCE]?.signal ?? signalOf(home[RESPONSE]));
}

/** An application may set `ngi.signal` as any other key (§2.1): it becomes a plain value. */
function replaceSignal(this: NodeEnviron, signal: AbortSignal): void {
  Object.defineProperty(this, 'ngi.signal', { value: signal, writable: true, enumerable: true, configurable: true });
}

/** `ngi.signal` as an enumerable, configurable accessor pair, one descriptor for every environ. */
const SIGNAL_PROPERTY: PropertyDescriptor = { get: lazySignal, set: replaceSignal, enumerable: true, configurable: true };

function defineSignal(environ: NodeEnviron): void {
  Object.defineProperty(environ, 'ngi.signal', SIGNAL_PROPERTY);
}

/**
 * How runApp and fromNodeListener learn that the client went away without making `ngi.signal`:
 * the response closing unfinished, as `signalOf` would abort it. Once the signal exists, or an
 * adapter's own source makes it (which can abort for other reasons), it is the signal.
 */
const nodeWatch: AbortWatch = {
  getter: lazySignal,
  aborted(environ) {
    const home = (environ as NodeEnviron)[HOME];
    if (home[SIGNAL] !== undefined || home[SOURCE] !== undefined) return environ['ngi.signal'].aborted;
    return clientLeft(home[RESPONSE]);
  },
  watch(environ, listener) {
    const home = (environ as NodeEnviron)[HOME];
    if (home[SIGNAL] !== undefined || home[SOURCE] !== undefined) return watchSignal(environ['ngi.signal'], listener);
    const res = home[RESPONSE];
    const closed = (): void => void (finished(res) || listener.handleEvent());
    res.once('close', closed);
    return () => void res.off('close', closed);
  },
  copy: copyNodeEnviron,
};

/**
 * A copy made as the server makes its environs, so it has the same shape and the same lazy
 * accessor, which gives the request's one signal (from `HOME`). A request's own keys (HTTP_*,
 * keys middleware added) fit in the space the constructor keeps for them: copied into a plain
 * `{}` one at a time, past a dozen V8 turns an object into a dictionary.
 */
function copyNodeEnviron(environ: Environ): Environ {
  const source = environ as NodeEnviron;
  const copy = newEnviron();
  fixedKeys ??= Object.keys(copy).filter((key) => key !== 'ngi.signal');
  const target = copy as unknown as Record<string | symbol, unknown>;
  for (const key in source) if (key !== 'ngi.signal') target[key] = source[key as keyof Environ];
  // A fixed key the source no longer has (deleted by an application) is not in the copy either.
  for (const key of fixedKeys) if (!Object.hasOwn(source, key)) delete target[key];
  // HOME among them: the copy's signal is the request's one.
  for (const symbol of Object.getOwnPropertySymbols(source)) target[symbol] = (source as unknown as Record<symbol, unknown>)[symbol];
  return copy;
}

/** The socket of the Node request `environ` was made from (a copy's too), or undefined for one made elsewhere. */
export function connectionOf(environ: Environ): NodeRequest['socket'] | undefined {
  return (environ as Partial<NodeEnviron>)[RESPONSE]?.socket ?? undefined;
}

/** Has `ngi.signal` come from `source` when first read, instead of from the response's 'close'. */
export function setSignalSource(environ: Environ, source: SignalSource): void {
  (environ as NodeEnviron)[HOME][SOURCE] = source;
}

/**
 * An environ's fixed keys, with placeholders `environFrom` replaces. A constructor, not an
 * object literal, and its objects are still plain (§2.1): its `prototype` is `Object.prototype`.
 * V8 tracks object literals by allocation site, and once it sees a site's objects outlive a
 * minor collection (requests in flight at the time), it allocates all that site's later objects
 * in the old generation. A dead environ there keeps its response, request and all they hold
 * alive until a full collection: under load, minor collections then copied most of every request.
 */
function PlainEnviron(this: NodeEnviron): void {
  this.REQUEST_METHOD = 'GET';
  this.SCRIPT_NAME = '';
  this.PATH_INFO = '';
  this.QUERY_STRING = '';
  this.SERVER_NAME = '';
  this.SERVER_PORT = '';
  this.SERVER_PROTOCOL = '';
  this['ngi.version'] = VERSION;
  this['ngi.url_scheme'] = 'http';
  this['ngi.input'] = EMPTY_INPUT;
  this['ngi.errors'] = stderrPlaceholder;
  this['ngi.multithread'] = false;
  this['ngi.multiprocess'] = false;
  this['ngi.run_once'] = false;
  this['ngi.raw_path'] = '';
  this[HOME] = this;
  this[RESPONSE] = undefined as unknown as NodeResponse;
  // Set later, if ever: made here, they change no environ's shape when they are.
  this[SIGNAL] = undefined;
  this[SOURCE] = undefined;
  this[abortWatchSymbol] = nodeWatch;
  defineSignal(this);
}
PlainEnviron.prototype = Object.prototype;

/** `PlainEnviron` as the constructor it is. */
const NewEnviron = PlainEnviron as unknown as new () => NodeEnviron;

/** The keys every environ is made with, known once one is made. */
let fixedKeys: string[] | undefined;

/** Replaced by `environFrom` before anyone sees an environ. */
const stderrPlaceholder: ErrorStream = { write() {}, flush() {} };

/** Environs made ahead, each handed out once (§2.1). */
const madeAhead: NodeEnviron[] = [];
const BATCH = 8;
/** Environs made one at a time so far, up to `SIZING`. */
let madeAlone = 0;
/**
 * V8 sizes a constructor's objects by the properties its first seven end up with, so the first
 * environs are made one at a time, and a request's own keys (REMOTE_ADDR, HTTP_*) then fit
 * inside later environs instead of in a separate, growing array.
 */
const SIZING = 8;

/**
 * A new environ, made in batches. Defining `ngi.signal`'s accessor is a call into V8's runtime
 * which, made once per request between Node's own work, cost about 5% of a hello world's
 * throughput; made for several environs in a row, about 2% (both measured with the two servers
 * of `bench/` at once; see its README). Small batches: an environ left waiting across two minor
 * collections is moved to the old generation.
 */
function newEnviron(): NodeEnviron {
  return madeAhead.pop() ?? madeNow();
}

/** A batch made when the last ran out, kept apart so the per-request path stays short. */
function madeNow(): NodeEnviron {
  if (madeAlone < SIZING) {
    madeAlone++;
    return new NewEnviron();
  }
  for (let i = 1; i < BATCH; i++) madeAhead.push(new NewEnviron());
  return new NewEnviron();
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
  /**
   * The headers as middleware before left them (added, changed, removed), for adapters inside
   * a framework; without it, the headers as received (`req.rawHeaders`).
   */
  headers?: NodeRequest['headers'] | undefined;
}

/** The environ of §2–§5 for a Node request. Throws an HttpError 400 for a malformed target. */
export function environFrom(req: NodeRequest, res: NodeResponse, options: EnvironOptions): Environ {
  const target = parseTarget(options.target ?? req.url ?? '/');
  // The asterisk form is for OPTIONS only (RFC 9112 §3.2.4; §3.3).
  if (target.rawPath === '*' && req.method !== 'OPTIONS') throw new HttpError(400, `Bad request target "*" for ${req.method}`);
  const scriptName = options.scriptName ?? '';
  const socket = req.socket;
  const environ = newEnviron();
  environ.REQUEST_METHOD = req.method ?? 'GET';
  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = scriptName === '' ? target.path : pathUnder(target.path, scriptName);
  environ.QUERY_STRING = target.query;
  environ.SERVER_PROTOCOL = protocolOf(req);
  environ['ngi.url_scheme'] = (socket as TLSSocket).encrypted ? 'https' : 'http';
  environ['ngi.errors'] = options.errors;
  environ['ngi.multiprocess'] = options.multiprocess;
  environ['ngi.raw_path'] = target.rawPath;
  environ[RESPONSE] = res;
  const peer = peerOf(socket);
  if (peer.address !== undefined) environ.REMOTE_ADDR = peer.address;
  if (peer.port !== undefined) environ.REMOTE_PORT = peer.port;
  // Headers come from rawHeaders where nothing ran before. A connection's names repeat in the
  // same order either way, so their keys are remembered per connection.
  addRequestHeaders(environ, options.headers === undefined ? req.rawHeaders : headerList(options.headers), peer.headers);
  if (hasBody(environ, req)) {
    if (Number(environ.CONTENT_LENGTH) > options.maxBodySize) throw tooLarge(options.maxBodySize);
    environ['ngi.input'] = inputOf(req, res, expectsContinue(environ.HTTP_EXPECT), options.maxBodySize);
  }
  setServerAddress(environ, socket, peer);
  return environ;
}

/** `req.headers` as a raw `[name, value, …]` list; Node has joined repeats already. */
function headerList(headers: NodeRequest['headers']): string[] {
  const list: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') list.push(name, value);
    else if (value !== undefined) for (const item of value) list.push(name, item);
  }
  return list;
}

/**
 * §3.8's three versions. HTTP/1's parser also takes `HTTP/0.9` or `HTTP/2.0` request lines: a
 * 505. HTTP/2 is Node's HTTP/2 request, or `fromNodeListener`'s for an HTTP/2 environ (no wire).
 */
function protocolOf(req: NodeRequest): string {
  const version = req.httpVersion;
  if (version === '1.1') return 'HTTP/1.1';
  if (version === '1.0') return 'HTTP/1.0';
  if (version === '2.0' && ((req as Http2ServerRequest).stream !== undefined || !(req.socket instanceof Socket))) return 'HTTP/2';
  throw new HttpError(505, `HTTP version ${JSON.stringify(version)} is not supported`);
}

/**
 * What a connection's requests share: the peer's address and port, as `REMOTE_ADDR` and
 * `REMOTE_PORT` give them (§3.9), and the Host value last seen on it, split.
 */
interface Peer {
  address: string | undefined;
  port: string | undefined;
  host: string | undefined;
  serverName: string;
  serverPort: string;
  headers: HeaderKeys | undefined;
}

const PEER = Symbol('ngi.node.peer');
type PeerSocket = NodeRequest['socket'] & { [PEER]?: Peer };

/**
 * Per connection, on the socket: Node's own getters would cost more, and the port would be
 * turned into a string on every request.
 */
function peerOf(socket: PeerSocket): Peer {
  return socket[PEER] ?? newPeer(socket);
}

function newPeer(socket: PeerSocket): Peer {
  const port = socket.remotePort;
  const peer: Peer = { address: socket.remoteAddress, port: port === undefined ? undefined : String(port), host: undefined, serverName: '', serverPort: '', headers: undefined };
  // Not before the peer is known (a socket still connecting has none yet), and only for a
  // connection's socket: fromNodeListener makes a socket per request.
  if (peer.address !== undefined && socket instanceof Socket) {
    peer.headers = { names: [], keys: [] };
    socket[PEER] = peer;
  }
  return peer;
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address (§3.7). */
function setServerAddress(environ: Environ, socket: NodeRequest['socket'], peer: Peer): void {
  const host = environ.HTTP_HOST;
  if (host) {
    // A client sends the same Host on every request of a connection.
    if (host !== peer.host) splitHost(peer, host, environ['ngi.url_scheme'] === 'https');
    environ.SERVER_NAME = peer.serverName;
    environ.SERVER_PORT = peer.serverPort;
    return;
  }
  // An IPv6 address in brackets, as in a Host value or a URL (RFC 3986 §3.2.2), so
  // `SERVER_NAME:SERVER_PORT` stays a valid authority.
  const local = socket.localAddress;
  environ.SERVER_NAME = local === undefined ? 'localhost' : local.includes(':') ? `[${local}]` : local;
  environ.SERVER_PORT = String(socket.localPort ?? (environ['ngi.url_scheme'] === 'https' ? 443 : 80));
}

/** A Host value that is not a host and an optional port is a 400 (RFC 9112 §3.2); `host:` names no port (§3.7). */
function splitHost(peer: Peer, host: string, https: boolean): void {
  if (!AUTHORITY.test(host)) throw new HttpError(400, `Bad Host header: ${JSON.stringify(host)}`);
  const colon = portColon(host);
  const port = colon < 0 ? '' : host.slice(colon + 1);
  peer.host = host;
  peer.serverName = colon < 0 ? host : host.slice(0, colon);
  peer.serverPort = port === '' ? (https ? '443' : '80') : port;
}

/** A host (a registered name, an IPv4 address, an IP literal in brackets) and an optional port (RFC 3986 §3.2). */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]*)?$/;

/**
 * Where the `:port` of a Host value starts, or -1 without one: the last colon, unless it sits
 * inside an IPv6 literal's `[…]`. A scan from the end is cheaper than `lastIndexOf`.
 */
function portColon(host: string): number {
  for (let i = host.length - 1; i >= 0; i--) {
    const code = host.charCodeAt(i);
    if (code === 58 /* : */) return i;
    if (code === 93 /* ] */) return -1;
  }
  return -1;
}

/** Aborts when the response closes unfinished: the client left, not a normal end (srvx#152). */
function signalOf(res: NodeResponse): AbortSignal {
  const controller = new AbortController();
  onClientLeft(res, () => controller.abort(new Error('The client disconnected')));
  return controller.signal;
}

/**
 * Calls `callback` once the response closes before it is whole (at once if it has): the client
 * went away. Never after a normal end (srvx#152), over HTTP/1 or HTTP/2. One 'close' listener
 * per response serves every callback: callables mounted one after another in a framework each
 * watch it, and Node warns past ten listeners.
 */
export function onClientLeft(res: NodeResponse, callback: () => void): void {
  if (clientLeft(res)) return callback();
  let callbacks = leaveCallbacks.get(res);
  if (callbacks === undefined) {
    const list: (() => void)[] = (callbacks = []);
    leaveCallbacks.set(res, list);
    res.once('close', () => finished(res) || list.forEach(call));
  }
  callbacks.push(callback);
}

const leaveCallbacks = new WeakMap<NodeResponse, (() => void)[]>();

function call(callback: () => void): void {
  callback();
}

/**
 * Whether a response went out whole. HTTP/2's compatibility response reports a stream the
 * client reset as finished too, so there what counts is that it was ended.
 */
function finished(res: NodeResponse): boolean {
  return res instanceof Http2ServerResponse ? res.writableEnded : res.writableFinished;
}

/** Whether the response closed before it was whole: the client went away. */
export function clientLeft(res: NodeResponse): boolean {
  const closed = res instanceof Http2ServerResponse ? res.stream.destroyed : res.destroyed;
  return closed && !finished(res);
}

/** An `Expect` value asking for `100 Continue`, in any letter case, as Node's own parser reads it. */
function expectsContinue(expect: string | undefined): boolean {
  return expect !== undefined && CONTINUE.test(expect);
}

const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

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
      // Not once the head is out: a 100 then would land inside the response body.
      if (expectsContinue && !http1._sent100 && !http1.headersSent && typeof http1.writeContinue === 'function') http1.writeContinue();
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
