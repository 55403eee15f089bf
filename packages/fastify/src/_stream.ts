import { Readable } from 'node:stream';
import type { Chunk } from '@ngi/core';

/**
 * The response body handed to `reply.send()`, so it runs through Fastify's reply pipeline
 * (`onSend` hooks, compression) like any stream a route sends. The NGI server pushes chunks in
 * as the application produces them and waits while the pipeline is full (backpressure).
 */
export class ResponseStream extends Readable {
  private waiting: { resolve(): void; reject(error: Error): void } | undefined = undefined;

  /**
   * Queues a chunk; resolves at once while there is room, else when the pipeline reads again.
   * Rejects once the stream is gone (the client left, or the pipeline dropped it).
   */
  send(chunk: Chunk): void | Promise<void> {
    if (this.destroyed) return Promise.reject(closedError());
    if (this.push(chunk)) return;
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  override _read(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error ?? closedError());
    callback(error);
  }
}

function closedError(): Error {
  return Object.assign(new Error('The response stream was closed before it ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}
