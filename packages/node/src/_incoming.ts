import { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { encodePath, splitRawPath, type Environ, type ErrorStream } from '@ngi/core';
import { construct } from './_construct.ts';
import { EMPTY_INPUT } from './_input.ts';
import type { NgiSocket } from './_socket.ts';

/**
 * `req[environSymbol]` is the environ the request was built from, so a listener (or an
 * adapter's `prepare` hook) can reach `ngi.*` and extension keys (§15).
 */
export const environSymbol: unique symbol = Symbol.for('ngi.environ');

/**
 * `req[baseUrlSymbol]` is the mount prefix (`SCRIPT_NAME`) as it appears in the raw request
 * target, `''` at the root: `req[baseUrlSymbol] + req.url` is the full target a framework
 * calls `originalUrl`, and the prefix is what Express calls `req.baseUrl`.
 */
export const baseUrlSymbol: unique symbol = Symbol.for('ngi.base_url');

/**
 * `req[serverSymbol]` is the `ngi.errors` and `ngi.multiprocess` of the NGI server that handed
 * Node's own request straight to a listener (`toNodeListener(fromNodeListener(…))`), which
 * then carries no environ: a callable an adapter runs inside (`toExpress`) keeps them (§4.4,
 * §4.5) through `nodeEnviron`. One object per listener, not one per request.
 */
export const serverSymbol: unique symbol = Symbol.for('ngi.server');

/** What `req[serverSymbol]` holds. */
export interface ServerSettings {
  errors: ErrorStream;
  multiprocess: boolean;
}

/** The `IncomingMessage` a listener receives from `fromNodeListener`. */
export interface NgiIncomingMessage extends IncomingMessage {
  /** The environ the request was built from. */
  [environSymbol]: Environ;
  /** The mount prefix as the client spelled it, `''` at the root. */
  [baseUrlSymbol]: string;
}

const kReader = Symbol('ngi.reader');

/** Node's own, undocumented fields this module keeps in step with (lib/_http_incoming.js). */
interface RequestInternals extends NgiIncomingMessage {
  upgrade: boolean | null;
  _consuming: boolean;
  _dump(): void;
  _destroy(error: Error | null, callback: (error: Error | null) => void): void;
  _addHeaderLines(headers: string[], n: number): void;
  _readableState: { ended: boolean; readingMore: boolean; resumeScheduled: boolean; pipes: unknown[] };
  [kReader]: BodyReader | undefined;
}

/**
 * A real `IncomingMessage` on `socket`, described by environ; its body streams from `ngi.input`.
 * With `proto` (inheriting from `IncomingMessage.prototype`), it is made with that prototype.
 */
export function createIncoming(environ: Environ, socket: NgiSocket, proto?: object): NgiIncomingMessage {
  const req = construct(IncomingMessage, proto, socket as unknown as Socket) as RequestInternals;
  req.method = environ.REQUEST_METHOD;
  // As a server's request listener sees it: upgrades go to its 'upgrade' event, never here.
  req.upgrade = false;
  setTarget(req, environ);
  setVersion(req, environ.SERVER_PROTOCOL);
  const raw = rawHeadersOf(environ);
  // An HTTP/2 body can come with neither Content-Length nor Transfer-Encoding, which body parsers
  // (type-is hasBody, so express.json()) take for none: the listener sees it as HTTP/1.1 sends it.
  if (environ.SERVER_PROTOCOL === 'HTTP/2' && environ['ngi.input'] !== EMPTY_INPUT && environ.CONTENT_LENGTH === undefined && environ.HTTP_TRANSFER_ENCODING === undefined) {
    raw.push('transfer-encoding', 'chunked');
  }
  // Sets rawHeaders and the count Node's lazy `headers` getter reads (what the parser does).
  req._addHeaderLines(raw, raw.length);
  req[environSymbol] = environ;
  req._read = readBody;
  // An own slot from the start: looking up a missing symbol walks the prototypes, which Express swaps.
  req[kReader] = undefined;
  return req;
}

/**
 * After the response: the request body left unread is the NGI server's to drain (§12.3), so
 * the request ends here without reading on, as `req._dump()` ends it on a real server. A
 * listener still reading when its response finished sees the request aborted instead of a
 * truncated body that looks complete. One that stopped reading before it answered (Fastify
 * past its `bodyLimit`) sees the request end, as on a real server, which reads on and drops
 * the rest: aborted, it would run Fastify's `onRequestAbort` hooks after a 413.
 */
export function releaseIncoming(message: IncomingMessage): void {
  const req = message as RequestInternals;
  const reader = req[kReader];
  if (reader !== undefined && !reader.done) {
    reader.stopped = true;
    if (isRead(req)) {
      if (!req.destroyed) req.destroy();
      return;
    }
  }
  completeIncoming(req);
  if (!req._consuming && !req._readableState.resumeScheduled) req._dump();
}

/** Whether something still reads the request: a 'data' or 'readable' listener (an async iterator adds one), or a pipe. */
function isRead(req: RequestInternals): boolean {
  return req.listenerCount('data') > 0 || req.listenerCount('readable') > 0 || req._readableState.pipes.length > 0;
}

/** As Node's parser at the end of a message: the request is complete and its body ends. */
export function completeIncoming(message: IncomingMessage): void {
  const req = message as RequestInternals;
  if (req._readableState.ended || req.destroyed) return;
  req.complete = true;
  req.push(null);
}

/** Stops pulling `ngi.input` once the connection is gone. */
export function stopIncoming(message: IncomingMessage): void {
  const reader = (message as RequestInternals)[kReader];
  if (reader !== undefined) reader.stopped = true;
}

/** `req._read`: pull the next chunk of `ngi.input`; Readable calls again when it wants more (backpressure). */
function readBody(this: RequestInternals): void {
  if (!this._consuming) {
    // As IncomingMessage#_read does on first use, so Readable's read-ahead works normally.
    this._readableState.readingMore = false;
    this._consuming = true;
  }
  let reader = this[kReader];
  if (reader === undefined) reader = this[kReader] = new BodyReader(this);
  reader.pull();
}

class BodyReader {
  iterator: AsyncIterator<Uint8Array> | undefined = undefined;
  reading = false;
  done = false;
  stopped = false;

  constructor(readonly req: RequestInternals) {}

  pull(): void {
    if (this.reading || this.done || this.stopped) return;
    this.reading = true;
    try {
      this.iterator ??= this.req[environSymbol]['ngi.input'][Symbol.asyncIterator]();
      this.iterator.next().then(this.onStep, this.onError);
    } catch (error) {
      this.onError(error);
    }
  }

  readonly onStep = (step: IteratorResult<Uint8Array>): void => {
    this.reading = false;
    if (this.stopped) return;
    const req = this.req;
    if (step.done === true) {
      this.done = true;
      completeIncoming(req);
      return;
    }
    const bytes = step.value;
    if (bytes.byteLength === 0) return this.pull();
    const socket = req.socket as unknown as NgiSocket;
    socket.bytesRead += bytes.byteLength;
    socket.active();
    req.push(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };

  // ngi.input throws when the client went away mid-body (§4.3): the request is aborted, as
  // a socket error aborts it on a real server ('aborted', then 'error' if observed, 'close').
  // A body that failed while the client is still there (a 413, a body a parser upstream had
  // read) errors without 'aborted', which a listener takes for the client gone: multer
  // would answer "Request aborted" instead of the reason.
  readonly onError = (error: unknown): void => {
    this.reading = false;
    if (this.stopped) return;
    this.stopped = true;
    const req = this.req;
    if (!req[environSymbol]['ngi.signal'].aborted) req._destroy = failWithoutAbort;
    req.destroy(error instanceof Error ? error : new Error(String(error)));
  };
}

/**
 * `req._destroy` for a body that failed with its client still there: the error, and nothing of a
 * connection lost, for the listener to answer. No more of the request comes, so the socket stops
 * being readable: a request errored on a real server has no connection left, and body-parser
 * waits for one or the other (on-finished) before it reports the error. Unobserved (no 'error'
 * listener), the error is not emitted, as Node leaves a request's, and the connection goes
 * instead: nothing then waits for a body that will not come. A listener that observes it but has
 * not begun its answer within `ANSWER_GRACE` (one waiting for an 'end' that will not come: to it,
 * a request error means a lost connection) loses the connection then.
 */
function failWithoutAbort(this: RequestInternals, error: Error | null, callback: (error: Error | null) => void): void {
  const socket = this.socket as unknown as NgiSocket;
  socket.readable = false;
  if (this.listenerCount('error') === 0) {
    socket.destroy(error ?? undefined);
    return callback(null);
  }
  callback(error);
  setTimeout(dropUnanswered, ANSWER_GRACE, socket, error).unref();
}

/** How long a listener that observes its request's error has to begin its answer, in ms. */
const ANSWER_GRACE = 1000;

/** The connection goes, and with it the exchange, whose server answers the error itself (§11.1). */
function dropUnanswered(socket: NgiSocket & { _httpMessage?: { headersSent: boolean } | null }, error: Error | null): void {
  if (!socket.destroyed && socket._httpMessage?.headersSent !== true) socket.destroy(error ?? undefined);
}

/**
 * Sets `req.url` from the raw target (`ngi.raw_path` without the mount prefix, plus the query),
 * so routers see `%2F` and other escapes as the client sent them; a `\` becomes `%5C`.
 */
export function setTarget(req: NgiIncomingMessage, environ: Environ): void {
  const raw = environ['ngi.raw_path'];
  const scriptName = environ.SCRIPT_NAME;
  const pathInfo = environ.PATH_INFO;
  const split = splitRawPath(raw, scriptName, pathInfo);
  let base: string;
  let path: string;
  if (split >= 0) {
    base = raw.slice(0, split);
    path = split === 0 ? raw : raw.slice(split);
  } else {
    // A middleware rewrote SCRIPT_NAME/PATH_INFO; the raw path no longer describes them.
    base = encodePath(scriptName);
    path = encodePath(pathInfo);
  }
  if (path === '') path = '/';
  // WHATWG URL takes a `\` in an http(s) path for a `/` and resolves the dot segments that makes:
  // a listener parsing `req.url` so would see `/admin\secret` as `/admin/secret`, past a `mount`
  // entry for `/admin` that saw no such segment (§14.2). Encoded, it names what PATH_INFO does.
  if (path.includes('\\')) path = path.replaceAll('\\', '%5C');
  const query = environ.QUERY_STRING;
  req.url = query === '' ? path : `${path}?${query}`;
  req[baseUrlSymbol] = base;
}

function setVersion(req: IncomingMessage, protocol: string): void {
  let major = 1;
  let minor = 1;
  if (protocol !== 'HTTP/1.1') {
    const match = /^HTTP\/(\d)(?:\.(\d))?$/.exec(protocol);
    if (match !== null) {
      major = Number(match[1]);
      minor = Number(match[2] ?? 0);
    }
  }
  req.httpVersionMajor = major;
  req.httpVersionMinor = minor;
  req.httpVersion = major === 1 && minor === 1 ? '1.1' : `${major}.${minor}`;
}

const headerNames = new Map<string, string>([
  ['CONTENT_TYPE', 'content-type'],
  ['CONTENT_LENGTH', 'content-length'],
]);

/**
 * The request headers environ describes as Node's flat `rawHeaders` list, lower-case names in
 * the order received: core's `requestHeaders` (the inverse of §5) without the pair arrays.
 */
function rawHeadersOf(environ: Environ): string[] {
  const raw: string[] = [];
  for (const key in environ) {
    const first = key.charCodeAt(0);
    if (first !== 72 /* H */ && first !== 67 /* C */) continue;
    let name = headerNames.get(key);
    if (name === undefined) {
      if (!key.startsWith('HTTP_')) continue;
      name = key.slice(5).toLowerCase().replaceAll('_', '-');
      if (headerNames.size < 512) headerNames.set(key, name);
    }
    const value = environ[key];
    if (typeof value === 'string') raw.push(name, value);
  }
  return raw;
}
