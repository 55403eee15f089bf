import { Readable } from 'node:stream';
import type { Chunk } from '@ngi/core';

/** What the body stream tells the exchange that feeds it. */
export interface BodyOwner {
  /** Koa (or a middleware) wants more: a write waiting on backpressure may go on. */
  bodyWanted(): void;
  /** The stream was destroyed: by Koa when the client left, or by a middleware that replaced `ctx.body`. */
  bodyDestroyed(): void;
}

/**
 * The callable's response body as the Node stream Koa sends with `ctx.body`: chunks are
 * pushed as `runApp` produces them, and a full buffer makes `write` wait (backpressure).
 */
export class BodyStream extends Readable {
  constructor(readonly owner: BodyOwner) {
    super();
  }

  /** Pushes a chunk; false when the consumer is behind and the producer should wait for `bodyWanted`. */
  send(chunk: Chunk): boolean {
    return this.push(chunk);
  }

  /**
   * Ends the stream with an error (§11.2: Koa then drops the connection). With nobody reading
   * yet — the client left before Koa started the body, or a middleware set it aside — it ends
   * without one: an 'error' nobody listens to would be an uncaught exception.
   */
  fail(error: unknown): void {
    if (this.listenerCount('error') === 0) this.destroy();
    else this.destroy(error instanceof Error ? error : new Error(String(error)));
  }

  override _read(): void {
    this.owner.bodyWanted();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.owner.bodyDestroyed();
    callback(error);
  }
}
