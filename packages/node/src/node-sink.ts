import { ServerResponse } from 'node:http';
import { Http2ServerResponse, constants } from 'node:http2';
import type { Socket } from 'node:net';
import { ResponseDiscarded, lowerCaseName, namedBefore, type Chunk, type HeaderList, type ResponseSink } from '@ngi/core';
import type { NodeRequest, NodeResponse } from './_environ.ts';
import { endingResponse } from './_client-left.ts';
import { releaseInput } from './_input.ts';
import { NgiSocket } from './_socket.ts';

/** Options of {@link NodeSink}. */
export interface NodeSinkOptions {
  /**
   * The most bytes of an unread request body drained after the response so the connection
   * can be reused (§12.3); past it the connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number;
  /**
   * Whether the request may have a body left to drain; `false` spares a listener per request.
   * @default true
   */
  hasBody?: boolean;
}

/**
 * The `ResponseSink` that sends what `runApp` produces to a Node `ServerResponse` (HTTP/1)
 * or `Http2ServerResponse`, as `toNodeListener` does. Headers a framework already set on
 * `res` (CORS, cookies) are kept; the application's replace same-named ones, except
 * `set-cookie` and `vary`, which accumulate, and its repeated names all go out.
 */
export class NodeSink implements ResponseSink {
  private readonly http2: boolean;
  private readonly drainLimit: number;
  private readonly hasBody: boolean;
  /** What writes made while the response is full wait on, together (§7.1: they need not wait for each other). */
  private drained: Promise<void> | undefined = undefined;
  /** Whether the head is known to be ASCII, so a string chunk can go out with it as Node sends it (see `afterHead`). */
  private asciiHead = false;

  constructor(
    private readonly req: NodeRequest,
    private readonly res: NodeResponse,
    options: NodeSinkOptions = {},
  ) {
    this.http2 = req.httpVersionMajor === 2;
    this.drainLimit = options.drainLimit ?? 1024 * 1024;
    this.hasBody = options.hasBody ?? true;
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    const res = this.res as ServerResponse;
    // Someone else answered first (a timeout middleware's 503): this response is dropped and its
    // body closed (§9.4), not answered as an error that would end a kept-alive connection.
    if (res.headersSent || res.writableEnded) throw new ResponseDiscarded();
    // HTTP/2's writeHead sends the head at once; HTTP/1's waits for the first write.
    if (this.http2) writeHead2(this.res as Http2ServerResponse, status, headers);
    // A writeHead wrapped by middleware (on-headers: compression, sessions) turns a raw array
    // into setHeader calls, one value per name, losing repeats like the headers set before.
    else if (res.getHeaderNames().length > 0 || res.writeHead !== ServerResponse.prototype.writeHead) writeMerged(res, status, reason, headers, flush);
    // Node takes `[[name, value], …]` as it is, repeats kept, when no header was set before.
    else {
      res.writeHead(status, reason, headers);
      // All of it is known here, besides the fields Node adds, which are ASCII.
      this.asciiHead = isAsciiHead(reason, headers);
    }
    if (flush && !this.http2) res.flushHeaders();
  }

  write(chunk: Chunk): void | Promise<void> {
    const res = this.res as ServerResponse;
    // Someone else ended the response (a timeout middleware's `res.end()`): the body is stopped
    // and closed (§9.4), where a write would wait for a 'drain' that never comes.
    if (res.writableEnded) return Promise.reject(new ResponseDiscarded());
    if (res.write(typeof chunk === 'string' && !this.asciiHead ? afterHead(res, chunk) : chunk)) return;
    this.drained ??= new Promise((resolve, reject) => {
      const settle = (): void => {
        res.off('drain', settle);
        res.off('close', settle);
        this.drained = undefined;
        if (res.writableEnded) reject(new ResponseDiscarded());
        else resolve();
      };
      res.on('drain', settle);
      // Closed without draining: ended by someone else meanwhile, or the client left (which
      // runApp learns through its own watch).
      res.on('close', settle);
    });
    return this.drained;
  }

  end(last?: Chunk): void {
    endingResponse(this.res);
    if (last === undefined) this.res.end();
    else (this.res as ServerResponse).end(typeof last === 'string' && !this.asciiHead ? afterHead(this.res, last) : last);
    // A GET is not yet `complete` while its handler runs; only a request with a body can need draining.
    if (this.hasBody) drainAfterResponse(this.req, this.res, this.drainLimit);
  }

  /**
   * The response is another's to send (a host framework's error handler): an iteration of
   * `ngi.input` the application left open lets go of the request, and what is left of the body
   * is drained once that response has finished (§12.3), as after one sent here.
   */
  release(): void {
    if (!this.hasBody) return;
    releaseInput(this.req);
    drainAfterResponse(this.req, this.res, this.drainLimit);
  }

  destroy(error: unknown): void {
    dropResponse(this.res, error);
  }
}

/** A head with a character past ASCII: a header value's or the reason's octets (§6.2). */
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Whether a head's reason and values are ASCII; header names are tokens. Where one is not, a
 * whole string body must go to Node as bytes: Node sends a string with the head it has not sent
 * yet, both as UTF-8, and a value's octet `\xe9` would go out as two bytes (§6.2). Tested on its
 * parts, not on the head Node made of them: that string is a concatenation, which a regular
 * expression copies into one first: on a hello world, testing it cost about 3% of throughput.
 */
export function isAsciiHead(reason: string, headers: HeaderList): boolean {
  if (!isAscii(reason)) return false;
  for (let i = 0; i < headers.length; i++) if (!isAscii(headers[i]![1])) return false;
  return true;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * A string chunk as Node must be given it. Node sends the first string of an HTTP/1 body in one
 * piece with the head it has not sent yet, both encoded as UTF-8, so a header's octet `\xe9`
 * would go out as two bytes: that chunk goes as bytes, and the head keeps its own (Latin-1).
 */
function afterHead(res: NodeResponse, chunk: string): Chunk {
  // `headersSent` is true once the head is made; `_headerSent`, once it went out.
  const node = res as { _header?: unknown; _headerSent?: unknown };
  if (node._headerSent === true || typeof node._header !== 'string') return chunk;
  return NON_ASCII.test(node._header) ? Buffer.from(chunk) : chunk;
}

/**
 * Drops a response that cannot complete (§11.2), never leaving one that looks complete.
 * HTTP/2: destroyed without an error, the stream ends with NO_ERROR, which a client reads as a
 * complete response; with one, it is reset with INTERNAL_ERROR. HTTP/1: what was written this
 * tick is still corked; handed to the OS first, it goes out before the connection closes
 * (§10.1: close it after sending what it has), and a client that stopped reading cannot hold
 * the connection open. Without a final chunk, or short of its Content-Length, the client cannot
 * take the body for complete; a body only the close ends (HTTP/1.0) it would, so that
 * connection is reset instead.
 */
export function dropResponse(res: NodeResponse, error: unknown): void {
  if (!(res instanceof ServerResponse)) {
    res.destroy(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  resetCloseDelimited(res);
  markDropped(res, error);
  res.destroy();
}

/**
 * Inside `fromNodeListener`: tells the outer server that `res` is dropped for `error`, reported
 * already, so it drops its own response too without reporting it again. For a host that
 * destroys the response with the error itself (Koa's pipeline), call it before.
 */
export function markDropped(res: NodeResponse, error: unknown): void {
  if (res.socket instanceof NgiSocket && error instanceof Error) res.socket.dropped = error;
}

/**
 * Of `dropResponse`, the part for a host that closes a failed response's connection itself
 * (Koa's pipeline): a body only the close ends is cut by a reset first, as a plain close would
 * make it look complete (§11.2). What was written this tick is handed to the OS before.
 */
export function resetCloseDelimited(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null) return;
  while (socket.writableCorked > 0) socket.uncork();
  if (closeDelimited(res)) resetConnection(socket);
}

const CONTENT_LENGTH = /\r\ncontent-length:/i;

/** Whether the body went out with neither chunks nor a Content-Length: the connection's close ends it (RFC 9112 §6.3). */
function closeDelimited(res: ServerResponse): boolean {
  const head = (res as ServerResponse & { _header?: string | null })._header;
  return typeof head === 'string' && !res.chunkedEncoding && !CONTENT_LENGTH.test(head);
}

/**
 * Closes with a TCP reset, which a client reports as an error, where a plain close marks the
 * end of the body. Only a plain TCP socket can send one; a TLS or Unix socket
 * (ERR_INVALID_HANDLE_TYPE) is closed as usual by `res.destroy()`.
 */
function resetConnection(socket: NonNullable<ServerResponse['socket']>): void {
  try {
    socket.resetAndDestroy();
  } catch {
    // Closed as usual: over TLS only a client that insists on TLS's close_notify sees the truncation.
  }
}

/**
 * The head over headers set earlier on `res`: Node 20 folds a raw `writeHead` array into
 * them one value per name, losing repeats (nodejs/node#50387, srvx#144), so set them first.
 */
function writeMerged(res: ServerResponse, status: number, reason: string, headers: HeaderList, flush: boolean): void {
  const seen = new Set<string>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    mergeHeader(res, name, key, value, seen.has(key));
    seen.add(key);
  }
  res.statusCode = status;
  res.statusMessage = reason;
  // Otherwise the head goes with the first write, or with `end(last)`: compression() sizes a
  // body given whole to end() against its threshold, which a head written before it hides.
  if (flush || res.writeHead === ServerResponse.prototype.writeHead) res.writeHead(status, reason);
}

/**
 * Sets one of an application's headers on a response that may have headers set before (by
 * middleware, by a framework): its value replaces one of the same name, except that a repeated
 * name (`repeated`: it came earlier in the same list) and `set-cookie` add a field line (§6.3),
 * and `vary` is joined to the one set before. A session cookie or CORS's `Vary: Origin` set
 * upstream is not the application's to drop: a cache would serve one origin's response to another.
 */
export function mergeHeader(res: ServerResponse, name: string, lower: string, value: string, repeated: boolean): void {
  if (repeated || lower === 'set-cookie') res.appendHeader(name, value);
  else if (lower === 'vary' && res.hasHeader('vary')) res.setHeader(name, `${headerText(res.getHeader('vary')!)}, ${value}`);
  else res.setHeader(name, value);
}

function headerText(value: number | string | string[]): string {
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/**
 * Names Node's HTTP/2 sends once only, refusing a second (`kSingleValueHeaders` in Node 20's
 * lib/internal/http2/util.js, less the pseudo-headers).
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age',
  'authorization', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after', 'tk',
  'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/**
 * Connection-specific names Node's HTTP/2 refuses (RFC 9113 §8.2.2), `te` unless `trailers`. The
 * hop-by-hop ones never get past `startResponse` (§6.3); `proxy-connection` and `http2-settings` do.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * Throws a TypeError naming what Node's HTTP/2 would refuse in this head, which HTTP/1 sends: a
 * status above 599, a repeated single-value header (two ETags), a connection-specific
 * one (Proxy-Connection). Node refuses it only when the head goes out, which under a framework can
 * be a stream's first write, where nothing catches the error and the process ends. An adapter
 * calls this in its sink's `head()` for an HTTP/2 request: `runApp` then answers the error before
 * the head (§11.1), without the application's headers.
 */
export function checkHttp2Head(status: number, headers: HeaderList): void {
  if (status > 599) throw new TypeError(`HTTP/2 cannot carry the status ${status}: its final status is 200 to 599`);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    const lower = lowerCaseName(name);
    if (CONNECTION_SPECIFIC.has(lower) || (lower === 'te' && value !== 'trailers')) {
      throw new TypeError(`HTTP/2 cannot carry the connection-specific header ${name}`);
    }
    if (SINGLE_VALUE.has(lower) && namedBefore(headers, i)) throw new TypeError(`HTTP/2 cannot carry more than one ${name} header`);
  }
}

/**
 * HTTP/2's head, checked first (`checkHttp2Head`). Should Node refuse it all the same, it does so
 * once the headers are on `res`: they are put back as they were, so the 500 answering the error
 * (§11.1) does not carry them, nor fail on them again.
 */
function writeHead2(res: Http2ServerResponse, status: number, headers: HeaderList): void {
  checkHttp2Head(status, headers);
  const object = headerObject(headers);
  const before = res.getHeaderNames().length > 0 ? res.getHeaders() : undefined;
  try {
    res.writeHead(status, object);
  } catch (error) {
    for (const name in object) {
      const value = before?.[name];
      if (value === undefined) res.removeHeader(name);
      else res.setHeader(name, value);
    }
    throw error;
  }
}

/** HTTP/2 takes repeated headers as arrays; it has no reason phrase. */
function headerObject(headers: HeaderList): Record<string, string | string[]> {
  const object: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const previous = object[key];
    object[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return object;
}

/**
 * Reads and discards what is left of a request body once its response has finished, ending an
 * iteration of `ngi.input` the application left open (`release`), so a kept-alive connection can
 * serve the next request (§12.3); past `limit` bytes the connection (over HTTP/2, the stream,
 * never the session) is closed instead, or a huge upload would hold it (hono#246). Call it before
 * the response finishes: its 'finish' listener goes first, because Node's own, which reads a body
 * nobody read to its end however long, would otherwise have taken the body already. `NodeSink`
 * does this itself; it is for adapters whose framework sends the response.
 */
export function drainAfterResponse(req: NodeRequest, res: NodeResponse, limit: number, release: BeforeDrain = releaseInput): void {
  if (req.complete || req.destroyed) return;
  if (res instanceof Http2ServerResponse) {
    // The response's 'finish' waits for the whole stream to close, which a client still sending
    // the body never does once nobody reads: the drain starts when the stream has sent the response.
    // No later request waits behind the body, so the drain is bounded in time too: a client that
    // goes quiet, or trickles, would otherwise hold the stream for good.
    const stream = res.stream;
    const stop = (): void => stream.close(constants.NGHTTP2_NO_ERROR);
    const drain = (): void => {
      if (!drainBody(req, limit, release, stop)) return;
      const timer = setTimeout(stop, HTTP2_DRAIN_TIME);
      stream.once('close', () => clearTimeout(timer));
    };
    if (stream.writableFinished) drain();
    else stream.prependOnceListener('finish', drain);
    return;
  }
  if (announcesBody(req.rawHeaders)) res.prependOnceListener('finish', () => drainConnection(req, limit, release));
}

/**
 * How long an HTTP/2 stream drains what is left of a body after its response, in milliseconds.
 * Closed then with NO_ERROR, the client keeps its response (RFC 9113 §8.1); closed at once, a
 * client with writes still queued (Node's own) would wait for ever on its half of the stream.
 */
const HTTP2_DRAIN_TIME = 5000;

/** Each HTTP/1 connection that drained a body, with the request whose body it was. */
const draining = new WeakMap<Socket, NodeRequest>();
/** Connections of a server that is closing (`closeDraining`). */
const closing = new WeakSet<Socket>();

/**
 * For a server's graceful close: a connection it will not reuse has no reason to drain a body
 * (§12.3), which a client still sending, or gone quiet, would make last until the close's
 * timeout. Ends it now if it is draining one, else once a response leaves one to drain.
 */
export function closeDraining(socket: Socket): void {
  closing.add(socket);
  if (draining.get(socket)?.complete === false) closeAfterResponse(socket);
}

/**
 * Closes a connection whose client is still sending: a FIN after the response, the body still
 * drained, and the connection is closed once the client closes its side (or by the graceful
 * close's timeout). Destroyed while request bytes still come, the OS would reset it, and a
 * client reading only once its upload is sent (Python's http.client) would lose the response.
 */
function closeAfterResponse(socket: Socket): void {
  socket.end();
}

function drainConnection(req: NodeRequest, limit: number, release: BeforeDrain): void {
  const socket = req.socket;
  const stop = (): void => void socket.destroy();
  if (!drainBody(req, limit, release, stop)) return;
  // Closed only now, so an iteration of `ngi.input` left open has ended rather than failed.
  if (closing.has(socket)) closeAfterResponse(socket);
  else draining.set(socket, req);
}

/**
 * What a drain does first: it ends the application's own reading of the body, or, returning
 * false, leaves the body to a reader still at it.
 */
export type BeforeDrain = (req: NodeRequest) => boolean | void;

/**
 * `drainAfterResponse` for a listener given Node's own request (as `toNodeListener` hands it
 * through, or `direct` mode): what it leaves unread is drained, but a body it still reads after
 * its response is its own, as Node leaves it.
 */
export function drainUnread(req: NodeRequest, res: NodeResponse, limit: number): void {
  drainAfterResponse(req, res, limit, notRead);
}

function notRead(req: NodeRequest): boolean {
  return req.readableFlowing !== true && req.listenerCount('data') === 0 && req.listenerCount('readable') === 0;
}

/**
 * Whether an HTTP/1 head announces a body: a Content-Length other than 0, or a Transfer-Encoding.
 * From `rawHeaders`, as `req.headers` is built on first read, which a listener may never do.
 */
function announcesBody(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
    if (name.length === 14 && name.toLowerCase() === 'content-length' && raw[i + 1] !== '0') return true;
  }
  return false;
}

/**
 * Reads what is left of the body, up to `limit` bytes, past which `stop` closes what carries it;
 * false when there is none left, or it is a reader's still at it. Over HTTP/2 a stream closed
 * with NO_ERROR after a complete response tells the client to stop sending, its response intact
 * (RFC 9113 §8.1).
 */
function drainBody(req: NodeRequest, limit: number, release: BeforeDrain, stop: () => void): boolean {
  if (req.complete || req.destroyed || release(req) === false) return false;
  let drained = 0;
  req.on('data', (chunk: Uint8Array) => {
    drained += chunk.byteLength;
    if (drained > limit) stop();
  });
  req.resume();
  return true;
}
