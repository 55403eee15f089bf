import { Readable } from 'node:stream';
import type { Chunk } from '@ngi/core';

/** What the body stream tells the exchange that feeds it. */
export interface BodyOwner {
  /** Koa (or a middleware) wants more: a write waiting on backpressure may go on. */
  bodyWanted(): void;
  /** The stream was destroyed: by Koa when the client left, or by a middleware that replaced `ctx.body`. */
  bodyDestroyed(): void;
  /** The stream failed (`fail`), having given out what it held: the connection is to be dropped. */
  bodyFailed(error: Error): void;
}

/**
 * Pushed so Node calls `_read` again once the buffer has been read: a `_read` that pushes nothing
 * is not called again until something is pushed, and an empty chunk adds nothing.
 */
const NOTHING = Buffer.alloc(0);

/**
 * The callable's response body as the Node stream Koa sends with `ctx.body`: chunks are
 * pushed as `runApp` produces them, and a full buffer makes `write` wait (backpressure).
 */
export class BodyStream extends Readable {
  /** Why the body cannot complete, once `fail` was called. */
  failure: Error | undefined = undefined;

  constructor(readonly owner: BodyOwner) {
    super();
  }

  /** Pushes a chunk; false when the consumer is behind and the producer should wait for `bodyWanted`. */
  send(chunk: Chunk): boolean {
    return this.push(chunk);
  }

  /**
   * Ends the stream with an error (§11.2), once what was pushed before has been read: §10.1
   * sends what a short body has before the connection is dropped.
   */
  fail(error: unknown): void {
    if (this.failure !== undefined || this.destroyed) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    if (this.readableLength === 0) this.failNow();
    else this.push(NOTHING); // a `_read` already asked for would not be asked again
  }

  override _read(): void {
    if (this.failure === undefined) this.owner.bodyWanted();
    else if (this.readableLength === 0) this.failNow();
    // `_read` runs before the chunk `read` returns leaves the buffer: ask to be called again after it.
    else this.push(NOTHING);
  }

  /**
   * With nobody reading yet — the client left before Koa started the body, or a middleware set
   * it aside — it ends without an error: an 'error' nobody listens to would be an uncaught exception.
   */
  private failNow(): void {
    const failure = this.failure!;
    this.destroy(this.listenerCount('error') === 0 ? undefined : failure);
    this.owner.bodyFailed(failure);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.owner.bodyDestroyed();
    callback(error);
  }
}
