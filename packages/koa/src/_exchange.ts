import { HttpError, ResponseDiscarded, isCascadePass, type Chunk, type Environ, type HeaderList, type ResponseSink } from '@ngi/core';
import { checkHttp2Head, clientLeft, dropResponse, markDropped, onClientLeft, resetCloseDelimited } from '@ngi/node';
import type { Context, Next } from 'koa';
import { BodyStream, type BodyOwner } from './_body.ts';
import { environOf, type EnvironOwner, type Settings } from './_environ.ts';
import type { KoaInput } from './_input.ts';
import { handOver } from './_hand-over.ts';
import type { Mount } from './_paths.ts';

/** The headers before the head: one empty list for every exchange. */
const NO_HEADERS: HeaderList = Object.freeze([]) as unknown as HeaderList;

/**
 * One request through `toKoa`: builds the environ, is the `ResponseSink` `runApp` sends the
 * callable's response to, and hands that response to Koa (`ctx.status`, `ctx.set`,
 * `ctx.body`) once the head is known, so the middleware upstream sees and can change it.
 */
export class KoaExchange implements ResponseSink, BodyOwner, EnvironOwner {
  status = 0;
  reason = '';
  headers: HeaderList = NO_HEADERS;
  flush = false;
  /** Chunks `runApp` sent before Koa took the response over, and their total length. */
  chunks: Chunk[] | undefined = undefined;
  buffered = 0;
  ended = false;
  /**
   * Koa may take the response over: the body ended, the head asked to be flushed, the buffer is
   * full, or a turn of the event loop passed since the head. Until then chunks are buffered, so
   * a body that ends at once (an Express `res.send`) reaches Koa whole, not as a stream.
   */
  settled = false;
  /** `runApp` gave the response up (an error after the head, or the client left). */
  destroyed = false;
  destroyError: unknown = undefined;
  /** An error before the head, rethrown into Koa. */
  failure: unknown = undefined;
  /** Everything from `runApp` is dropped: the response fell through, or its body was discarded. */
  discarding = false;
  stream: BodyStream | undefined = undefined;
  /**
   * What the writes waiting for Koa to take the response, or for the stream to want more, wait
   * on together, and what wakes them: writes need not wait for each other (§7.1).
   */
  waited: Promise<void> | undefined = undefined;
  waiting: (() => void) | undefined = undefined;
  /** Wakes the middleware waiting for the response to settle. */
  wake: (() => void) | undefined = undefined;
  controller: AbortController | undefined = undefined;
  /** The callable started reading the request body from the request (§14.1). */
  inputUsed = false;
  input: KoaInput | undefined = undefined;

  constructor(
    readonly ctx: Context,
    readonly cascade: boolean,
  ) {}

  start(mount: Mount | undefined, settings: Settings): Environ {
    return environOf(this.ctx, mount, settings, this);
  }

  /** After `runApp` started: respond now if the response settled (the synchronous path), else when it does. */
  respondWhenReady(next: Next): Promise<void> | void {
    if (this.settled) return this.respond(next);
    const res = this.ctx.res;
    let closed: (() => void) | undefined;
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      if (this.status !== 0) this.settleSoon();
      // The callable may never answer a client that left; Koa's chain must not wait for it.
      if (clientLeft(res)) resolve();
      else res.once('close', (closed = resolve));
    }).then(() => {
      // Callables mounted one after another each wait here: one listener at a time, not one each.
      if (closed !== undefined) res.off('close', closed);
      return this.respond(next);
    });
  }

  settle(): void {
    this.settled = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** After this turn of the event loop: a body still running by then is streamed. */
  settleSoon(): void {
    setImmediate(() => this.settle());
  }

  respond(next: Next): Promise<void> | void {
    this.settled = true;
    this.wake = undefined;
    if (this.failure !== undefined) {
      this.input?.drainAfterResponse();
      throw koaError(this.failure);
    }
    // The signal is only read if it exists: making it costs, and the usual path never needs it.
    if (this.status === 0 || this.controller?.signal.aborted === true) {
      this.discarding = true; // the client left before the head: nothing to send
      // Said now: Koa answers the closed response next (Koa 3), after which it looks finished,
      // and a signal first read then would never abort.
      if (clientLeft(this.ctx.res)) this.abort(new Error('The client disconnected'));
      return;
    }
    if (this.discarding) return next(); // §14.1: x-cascade: pass
    this.input?.drainAfterResponse();
    try {
      handOver(this.ctx, this);
    } catch (error) {
      // Koa cannot take the response (its headers were already sent, say): the callable is
      // stopped and closed (§9.4), not left waiting on backpressure, and Koa answers the error.
      this.discarding = true;
      this.abort(error instanceof Error ? error : new Error(String(error)));
      this.stream?.destroy();
      this.bodyWanted();
      throw error;
    }
  }

  /** An error before the head: thrown into Koa, whose error handling answers it. */
  fail(error: unknown): void {
    // Undefined here means no failure, and Koa's error handling ignores null (`ctx.onerror`).
    this.failure = error ?? new Error(`toKoa: the application threw ${String(error)}`, { cause: error });
    this.settle();
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    // Node's HTTP/2 refuses some heads only when the body's first write sends them, where nothing
    // catches the error: refused here, it is Koa's to answer (§11.1).
    if (this.ctx.req.httpVersionMajor === 2) checkHttp2Head(status, headers);
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.flush = flush;
    // A body the callable read cannot be read again by the middleware after it (§14.1).
    if (this.cascade && !this.inputUsed && isCascadePass(status, headers)) this.discarding = true;
    if (flush || this.discarding) this.settle();
    else if (this.wake !== undefined) this.settleSoon();
  }

  write(chunk: Chunk): void | Promise<void> {
    // Passed on (§14.1), or Koa's response is another's: runApp stops and closes the body.
    if (this.discarding) return Promise.reject(new ResponseDiscarded());
    const stream = this.stream;
    if (stream === undefined) {
      this.keep(chunk);
      this.buffered += chunk.length;
      // A lone chunk is in memory anyway: the end may follow it in this turn (a large Express res.send).
      if (this.buffered < BUFFER_LIMIT || this.chunks!.length === 1) return;
      this.settle();
    } else if (stream.send(chunk)) return;
    return (this.waited ??= new Promise((resolve) => (this.waiting = resolve)));
  }

  /**
   * Holds a chunk until Koa takes the response: the usual one-chunk body in an array of its
   * own size (`[].push` would make room for 17).
   */
  private keep(chunk: Chunk): void {
    if (this.chunks === undefined) this.chunks = [chunk];
    else this.chunks.push(chunk);
  }

  end(last?: Chunk): void {
    this.ended = true;
    if (this.discarding) return;
    const stream = this.stream;
    if (stream === undefined) {
      if (last !== undefined) this.keep(last);
      this.settle();
      return;
    }
    if (last !== undefined) stream.send(last);
    stream.push(null);
  }

  destroy(error: unknown): void {
    this.destroyed = true;
    this.destroyError = error;
    // Koa's pipeline destroys the response with the error: an outer server must not report it again.
    markDropped(this.ctx.res, error);
    this.stream?.fail(error);
    this.settle();
  }

  /**
   * The body stream failed: drop the response too. Koa's own pipeline would, but koa-compress
   * (like any middleware wrapping `ctx.body` with `.pipe()`) passes no error on, so its stream
   * never ends and Koa would wait forever (§11.2). Deferred, so Koa's pipeline reports the error first.
   */
  bodyFailed(error: Error): void {
    if (this.discarding) return;
    // Koa's pipeline closes the connection once it sees the error, plainly: a body only the close
    // ends (HTTP/1.0) would look complete, so it is reset now.
    if (this.ctx.req.httpVersionMajor < 2 && feedsResponse(this)) resetCloseDelimited(this.ctx.res);
    setImmediate(dropUnlessReplaced, this, error);
  }

  bodyWanted(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    this.waited = undefined;
    waiting?.();
  }

  /**
   * Koa destroyed the stream: the client left, or a middleware replaced or dropped `ctx.body`
   * (a 304 from a conditional GET, an error page). A body still running stops and is closed
   * instead of waiting forever on backpressure: told through `ngi.signal` when the client left,
   * else by its next write failing (the response went out whole: §4.6 keeps the signal quiet).
   */
  bodyDestroyed(): void {
    if (this.ended || this.destroyed) return this.bodyWanted();
    this.discarding = true;
    this.bodyWanted();
    if (clientLeft(this.ctx.res)) this.abort(new Error('The client disconnected'));
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      // Aborts when the response closes unfinished: the client left, not a normal end (srvx#152).
      onClientLeft(this.ctx.res, () => this.abort(new Error('The client disconnected')));
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    const controller = (this.controller ??= new AbortController());
    if (!controller.signal.aborted) controller.abort(reason);
  }
}

/**
 * Drops the response (§11.2), if this body is it or feeds it (koa-compress pipes it on): a body
 * a middleware put in its place stands.
 */
function dropUnlessReplaced(exchange: KoaExchange, error: Error): void {
  if (feedsResponse(exchange)) dropResponse(exchange.ctx.res, error);
}

function feedsResponse(exchange: KoaExchange): boolean {
  const stream = exchange.stream;
  return exchange.ctx.body === stream || stream?.readableFlowing === true;
}

/** The most bytes of body buffered before Koa takes the response over as a stream. */
const BUFFER_LIMIT = 64 * 1024;

/**
 * Koa answers an error with its `status`, and shows its message when `expose` is set: an
 * `HttpError`'s message is the answer (§11.1), a 5xx one's too (Koa would show "Internal Server
 * Error" for a 503 the application explained).
 */
function koaError(error: unknown): unknown {
  return error instanceof HttpError ? Object.assign(error, { expose: true }) : error;
}
