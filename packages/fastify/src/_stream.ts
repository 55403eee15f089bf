import { Readable } from 'node:stream';
import { ResponseDiscarded, type Chunk } from '@ngi/core';

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
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
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
