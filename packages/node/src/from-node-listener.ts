import { IncomingMessage, ServerResponse } from 'node:http';
import { onClientGone, type Application, type Chunk, type Environ, type HeaderList, type ResponseBody, type StartResponse, type Write } from '@ngi/core';
import { markWrapped } from './_direct.ts';
import { completeIncoming, createIncoming, releaseIncoming, stopIncoming, type NgiIncomingMessage } from './_incoming.ts';
import { EMPTY_INPUT } from './_input.ts';
import { createOutgoing, type ResponseOwner } from './_outgoing.ts';
import { NgiSocket, abortedError, prematureClose, type SocketOwner } from './_socket.ts';
import { NgiTlsSocket } from './_tls-socket.ts';

export { environSymbol, baseUrlSymbol, type NgiIncomingMessage } from './_incoming.ts';

/**
 * A Node request listener: an Express or Connect app, `koaApp.callback()`, Fastify's
 * `fastify.routing`, a server's 'request' listener, or a plain `(req, res) => {}`.
 * A returned promise is watched for rejection.
 */
export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options of {@link fromNodeListener}. */
export interface FromNodeListenerOptions {
  /**
   * Called with the request and response before the listener runs: where a framework adapter
   * sets its own notion of the mount point from `req[baseUrlSymbol]` and `environ.SCRIPT_NAME`
   * (Express: `req.baseUrl`, `req.originalUrl = req[baseUrlSymbol] + req.url`).
   */
  prepare?: (req: NgiIncomingMessage, res: ServerResponse, environ: Environ) => void;
  /**
   * The same listener in Connect's form, `(req, res, next)`, calling `next()` for a request it
   * does not answer (an Express app's own `next`), or `next(error)`: used when a host framework
   * runs the listener on its own req and res (`directListener`), so a request it passes on goes
   * to the host's next handler instead of the listener's not-found page.
   */
  passOn?: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown;
  /**
   * The prototypes the listener gives every request and response (Express: `app.request` and
   * `app.response`), inheriting from `IncomingMessage.prototype` and `ServerResponse.prototype`.
   * The request and response are made with them, so the listener finds them in place: an object
   * re-parented per request leaves V8 unable to cache any property access on it.
   * @default the listener's own `request` and `response`, when they are such prototypes (an Express app)
   */
  prototypes?: { request: object; response: object };
}

/**
 * Turns a Node `(req, res)` listener into an NGI application. The listener gets a real
 * `http.IncomingMessage` and `http.ServerResponse` on a connection-less socket: `req.url` is
 * the raw target relative to `SCRIPT_NAME`, the body streams from `ngi.input`, the head goes
 * to `startResponse` as soon as it is written, and body chunks stream out as the listener
 * writes them, with `res.write()` returning false until the NGI server has taken them.
 */
export function fromNodeListener(listener: NodeRequestListener, options: FromNodeListenerOptions = {}): Application {
  const prepare = options.prepare;
  const prototypes = options.prototypes ?? prototypesOf(listener);
  if (prototypes !== undefined) checkPrototypes(prototypes);
  const app: Application = (environ, startResponse) => {
    const exchange = new Exchange(environ, startResponse, prototypes);
    const req = exchange.req;
    const res = exchange.res;
    try {
      if (prepare !== undefined) prepare(req, res, environ);
      const result = listener(req, res);
      // As Node's parser after the listener's first step: a request without a body is complete.
      if (environ['ngi.input'] === EMPTY_INPUT) completeIncoming(req);
      if (isThenable(result)) result.then(undefined, (error: unknown) => exchange.abandon(toError(error)));
    } catch (error) {
      exchange.abandon(toError(error));
      if (exchange.write === undefined) throw error; // the server's 500 (§11.1)
    }
    return exchange.response();
  };
  return markWrapped(app, { listener, prepare, passOn: options.passOn, prototypes });
}

/** The prototypes an Express app gives every request and response (`app.request`, `app.response`); undefined for any other listener. */
export function prototypesOf(listener: unknown): { request: object; response: object } | undefined {
  const { request, response } = (listener ?? {}) as { request?: unknown; response?: unknown };
  return isPrototype(request, IncomingMessage) && isPrototype(response, ServerResponse) ? { request, response } : undefined;
}

/**
 * Whether `value` can be the prototype of a `type` instance: it inherits from `type.prototype`
 * and is not itself an instance (a stream has its own `_events`), whose fields every request
 * made from it would inherit.
 */
function isPrototype(value: unknown, type: Function): value is object {
  return value instanceof type && !Object.hasOwn(value, '_events');
}

function checkPrototypes(prototypes: { request: object; response: object }): void {
  if (!isPrototype(prototypes.request, IncomingMessage)) {
    throw new TypeError('fromNodeListener: options.prototypes.request must be an object inheriting from http.IncomingMessage.prototype, not a request');
  }
  if (!isPrototype(prototypes.response, ServerResponse)) {
    throw new TypeError('fromNodeListener: options.prototypes.response must be an object inheriting from http.ServerResponse.prototype, not a response');
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

interface Settle<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * One request through the listener: owns the socket, receives the head and body writes from
 * `_outgoing.ts`, and is itself the response body the NGI server iterates, one chunk of the
 * socket's send queue at a time.
 */
class Exchange implements SocketOwner, ResponseOwner, AsyncIterator<Chunk>, AsyncIterable<Chunk> {
  readonly socket: NgiSocket;
  readonly req: NgiIncomingMessage;
  readonly res: ServerResponse;
  /** From startResponse; defined once the head is known. */
  write: Write | undefined = undefined;
  failure: Error | undefined = undefined;
  /** `res.end()` was called. */
  finished = false;
  /** The server called `close()`. */
  closed = false;
  /** A bodiless response the server is done with: writes complete at once. */
  discarding = false;
  /** The connection was closed after a normal end. */
  released = false;
  flushed = false;
  settleHead: Settle<ResponseBody> | undefined = undefined;
  settleNext: Settle<IteratorResult<Chunk>> | undefined = undefined;
  /** Stops watching for the client leaving while the head is awaited. */
  unwatch: (() => void) | undefined = undefined;

  constructor(
    readonly environ: Environ,
    readonly startResponse: StartResponse,
    prototypes: FromNodeListenerOptions['prototypes'],
  ) {
    this.socket = environ['ngi.url_scheme'] === 'https' ? new NgiTlsSocket(this, environ) : new NgiSocket(this, environ);
    this.req = createIncoming(environ, this.socket, prototypes?.request);
    this.res = createOutgoing(this.req, this.socket, prototypes?.response);
  }

  /** What the application returns: the body once the head is known, else a promise of it. */
  response(): ResponseBody | Promise<ResponseBody> {
    if (this.write !== undefined) return this.body();
    if (this.failure !== undefined) throw this.failure;
    // runApp waits on this promise without watching the signal, so settle it on abort (§12.1).
    // Once the head is known runApp watches itself; a signal that outlives the exchange (a
    // middleware's timeout, a server's shutdown) must not keep it.
    this.unwatch = onClientGone(this.environ, this);
    if (this.failure !== undefined) throw this.failure;
    return new Promise((resolve, reject) => (this.settleHead = { resolve, reject }));
  }

  /** A listener that already ended (the usual case) gets the server's synchronous path: no promise per chunk. */
  body(): ResponseBody {
    return this.finished && this.failure === undefined ? new SyncBody(this) : this;
  }

  /** The client went away (an `EventListener` object, so no closure per request). */
  handleEvent(): void {
    this.socket.destroy(this.environ['ngi.signal'].reason as Error);
  }

  /**
   * The listener threw or its promise rejected. Before the head the application rejects
   * (§11.1); after it the body throws (§11.2); a response the listener already ended stands,
   * and the error is only logged (on a real server it would be an uncaught exception).
   */
  abandon(error: Error): void {
    if (this.res.writableEnded) {
      this.environ['ngi.errors'].write(`fromNodeListener: the listener failed after ending its response: ${error.stack ?? error}\n`);
    } else if (!this.socket.destroyed) {
      this.socket.destroy(error);
    }
  }

  head(status: string, headers: HeaderList): void {
    this.write = this.startResponse(status, headers);
    const settle = this.settleHead;
    if (settle === undefined) return;
    this.settleHead = undefined;
    this.stopWatching();
    // Settled after the listener's current step, which usually ends the response too (Koa's respond()).
    process.nextTick(settleHead, this, settle);
  }

  writeRaw(data: string | Uint8Array, encoding: BufferEncoding | null, callback: (() => void) | null): boolean {
    // Before the head only 1xx responses are written raw (writeContinue, writeEarlyHints): NGI has none.
    if (this.write === undefined || this.discarding) {
      if (callback !== null) process.nextTick(callback);
      return true;
    }
    // `res.write('')` puts the head on a real socket at once, as flushHeaders() does (§8.3).
    // end() writes '' only behind bytes still queued, which take the head out with them.
    if (data.length === 0 && this.socket.pendingBytes === 0) this.flush();
    const ready = this.socket.enqueue(data, encoding, callback);
    if (this.settleNext !== undefined) this.wake();
    return ready;
  }

  ended(): void {
    this.finished = true;
    // The server may be done with a bodiless response already: close after 'finish'.
    if (this.closed) process.nextTick(release, this);
    else if (this.settleNext !== undefined) this.wake();
  }

  flush(): void {
    // §8.3: write('') sends the head at once, without a body byte (SSE, hono#244).
    if (this.write === undefined || this.flushed) return;
    this.flushed = true;
    this.write('').then(undefined, ignore);
  }

  socketClosed(error: Error | null): boolean {
    stopIncoming(this.req);
    this.stopWatching();
    if (this.released) return false;
    if (this.finished) {
      // The listener ended its response before it destroyed the connection (`res.end(); req.destroy()`
      // to stop an upload): on a real socket end() wrote it already, so it goes out whole.
      this.released = true;
      releaseIncoming(this.req);
      if (this.settleNext !== undefined) this.wake();
      return true;
    }
    const failure = (this.failure = error ?? prematureClose());
    const head = this.settleHead;
    const next = this.settleNext;
    this.settleHead = this.settleNext = undefined;
    head?.reject(failure);
    next?.reject(failure);
    // As http.Server's abortIncoming: an unfinished request is aborted ('aborted', 'close').
    if (!this.req.destroyed) this.req.destroy(abortedError());
    return false;
  }

  stopWatching(): void {
    const unwatch = this.unwatch;
    this.unwatch = undefined;
    unwatch?.();
  }

  socketTimedOut(): boolean {
    const onRequest = !this.req.complete && this.req.emit('timeout', this.socket);
    return this.res.emit('timeout', this.socket) || onRequest;
  }

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    return this;
  }

  next(): Promise<IteratorResult<Chunk>> {
    let step: IteratorResult<Chunk> | undefined;
    try {
      step = this.step();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (step !== undefined) return Promise.resolve(step);
    return new Promise((resolve, reject) => (this.settleNext = { resolve, reject }));
  }

  /** The next step of the body, or undefined while the listener has written nothing new; throws once the connection is gone. */
  step(): IteratorResult<Chunk> | undefined {
    // Bytes the listener wrote before the connection failed still go out, as from a socket.
    const chunk = this.socket.shiftChunk();
    if (chunk !== undefined) return { done: false, value: chunk };
    if (this.failure !== undefined) throw this.failure;
    return this.finished || this.closed ? DONE : undefined;
  }

  /** A parked `next()` gets what the listener just wrote or ended. */
  wake(): void {
    const step = this.step();
    if (step === undefined) return;
    const settle = this.settleNext!;
    this.settleNext = undefined;
    settle.resolve(step);
  }

  return(): Promise<IteratorResult<Chunk>> {
    const settle = this.settleNext;
    this.settleNext = undefined;
    settle?.resolve(DONE);
    return Promise.resolve(DONE);
  }

  /** Called once by the server on every path (§9.4); idempotent all the same. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.return();
    if (this.finished && this.socket.pendingBytes === 0 && this.failure === undefined) {
      // The usual path, decided without touching ngi.signal (servers may create it lazily).
      process.nextTick(release, this);
      return;
    }
    const signal = this.environ['ngi.signal'];
    if (signal.aborted) {
      this.socket.destroy(signal.reason as Error);
    } else if (this.finished) {
      process.nextTick(release, this);
    } else if (this.write !== undefined && !(this.res as unknown as { _hasBody: boolean })._hasBody) {
      // HEAD, 204, 304: the server sent all there is; let the listener end in its own time.
      this.discarding = true;
      this.socket.discard();
    } else {
      // The server stopped early (an error, Content-Length reached): the listener sees 'close'.
      this.socket.destroy(prematureClose());
    }
  }
}

/** The body of a response the listener ended before the application returned: iterated synchronously. */
class SyncBody implements Iterable<Chunk>, Iterator<Chunk> {
  constructor(readonly exchange: Exchange) {}

  [Symbol.iterator](): Iterator<Chunk> {
    return this;
  }

  next(): IteratorResult<Chunk> {
    return this.exchange.step() ?? DONE;
  }

  return(): IteratorResult<Chunk> {
    return DONE;
  }

  close(): void {
    this.exchange.close();
  }
}

function settleHead(exchange: Exchange, settle: Settle<ResponseBody>): void {
  if (exchange.failure !== undefined) settle.reject(exchange.failure);
  else settle.resolve(exchange.body());
}

/** After a normal end: the request ends as on a real server, then the connection closes ('close' events). */
function release(exchange: Exchange): void {
  if (exchange.released || exchange.socket.destroyed) return;
  exchange.released = true;
  releaseIncoming(exchange.req);
  exchange.socket.destroy();
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function ignore(): void {}
