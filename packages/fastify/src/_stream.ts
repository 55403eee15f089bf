import { Readable } from 'node:stream';
import { ResponseDiscarded, type Chunk } from '@ngi/core';

/**
 * Pushed so Node calls `_read` again once the buffer has been read: a `_read` that pushes nothing
 * is not called again until something is pushed, and an empty chunk adds nothing.
 */
const NOTHING = Buffer.alloc(0);

/**
 * The response body handed to `reply.send()`, so it runs through Fastify's reply pipeline
 * (`onSend` hooks, compression) like any stream a route sends. The NGI server pushes chunks in
 * as the application produces them and waits while the pipeline is full (backpressure).
 */
export class ResponseStream extends Readable {
  /** What the sends made while the pipeline is full wait on, together. */
  private waiting: { promise: Promise<void>; resolve(): void; reject(error: Error): void } | undefined = undefined;
  /** Fastify sent another response in its place: sends fail with `ResponseDiscarded`. */
  private discarded = false;
  /** Set by `dropAfterRead`: what runs once what was pushed has been read. */
  private dropping: (() => void) | undefined = undefined;

  /**
   * Queues a chunk; resolves at once while there is room, else when the pipeline reads again.
   * Rejects once the stream is gone (the client left, or the pipeline dropped it). Sends need
   * not wait for each other (an application's `write` calls, §7.1): all wait on one promise.
   */
  send(chunk: Chunk): void | Promise<void> {
    if (this.destroyed) return Promise.reject(this.closedError());
    if (this.push(chunk)) return;
    return (this.waiting ??= waiter()).promise;
  }

  override _read(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve();
    if (this.dropping !== undefined) this.readDropping();
  }

  /**
   * Runs `then` once what was pushed has been read, for the response to be dropped after it
   * (§10.1: what a short body has goes out first), or at once when the pipeline stops reading:
   * a client that reads nothing must not hold the connection open. The stream never ends: with
   * @fastify/compress between, an end would have it write its final chunk, and the response
   * would look complete.
   */
  dropAfterRead(then: () => void): void {
    if (this.readableLength === 0 || this.isPaused()) return then();
    this.dropping = then;
    this.once('pause', () => this.dropNow());
    this.push(NOTHING); // a `_read` already asked for would not be asked again
  }

  private readDropping(): void {
    // `_read` runs before the chunk `read` returns leaves the buffer: ask to be called again after it.
    if (this.readableLength !== 0) this.push(NOTHING);
    else this.dropNow();
  }

  private dropNow(): void {
    const then = this.dropping;
    this.dropping = undefined;
    then?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Gone before it was read (the client left): nothing is left to drop.
    this.dropping = undefined;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error ?? this.closedError());
    callback(error);
  }

  /** Nothing will read it: Fastify sent another response (an onSend hook's payload, a handlerTimeout's 503). */
  discard(): void {
    this.discarded = true;
    this.destroy();
  }

  private closedError(): Error {
    if (this.discarded) return new ResponseDiscarded();
    return Object.assign(new Error('The response stream was closed before it ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
  }
}

function waiter(): { promise: Promise<void>; resolve(): void; reject(error: Error): void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
  return { promise, resolve, reject };
}
