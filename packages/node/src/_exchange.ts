import type { ServerResponse } from 'node:http';
import { describeError, onClientGone, type Chunk, type Environ, type HeaderList, type ResponseBody, type StartResponse, type Write } from '@ngi/core';
import { failedWithHanded } from './_client-left.ts';
import { createIncoming, releaseIncoming, stopIncoming, type NgiIncomingMessage } from './_incoming.ts';
import { createOutgoing, type ResponseOwner } from './_outgoing.ts';
import { NgiSocket, abortedError, prematureClose, type SocketOwner } from './_socket.ts';
import { NgiTlsSocket } from './_tls-socket.ts';
import type { FromNodeListenerOptions } from './from-node-listener.ts';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * One request through the listener: owns the socket, receives the head and body writes from
 * `_outgoing.ts`, and is itself the response body the NGI server iterates, one chunk of the
 * socket's send queue at a time.
 */
export class Exchange implements SocketOwner, ResponseOwner, AsyncIterator<Chunk>, AsyncIterable<Chunk> {
  readonly socket: NgiSocket;
  readonly req: NgiIncomingMessage;
  readonly res: ServerResponse;
  /** From startResponse; defined once the head is known. */
  write: Write | undefined = undefined;
  /** Why the exchange failed: what the listener threw, as it threw it, or how the connection closed. */
  failure: unknown = undefined;
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
   * and the error is only logged (on a real server it would be an uncaught exception). What it
   * threw goes on as it was, an Error or not: Express code passes plain objects to `next()`
   * (`{ status: 503, message }`), which the host's error handlers expect to get.
   */
  abandon(thrown: unknown): void {
    if (this.res.writableEnded) {
      this.environ['ngi.errors'].write(`fromNodeListener: the listener failed after ending its response: ${describeError(thrown)}\n`);
    } else if (!this.socket.destroyed) {
      this.failure = thrown;
      // Answered outside (the NGI server's 500): an application inside that handed this very error on is done.
      if (!this.res.headersSent) failedWithHanded(this.res, thrown);
      this.socket.destroy(thrown instanceof Error ? thrown : new Error(String(thrown)));
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
    const failure = (this.failure ??= error ?? prematureClose());
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

function ignore(): void {}
