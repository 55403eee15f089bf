import type { Chunk, ResponseBody, StartResponse } from '@ngi/core';

/** The exchange a guarded body reports to. */
export interface GuardOwner {
  /** Whether `runApp` has handed the head over already. */
  headSent(): boolean;
  /** Turns an error before the head into Koa's error (returns), or throws it on for §11.2. */
  fail(error: unknown, startResponse: StartResponse): void;
}

const DONE: IteratorResult<Chunk> = Object.freeze({ done: true, value: undefined });

/**
 * Wraps a response body so that an error it throws before the head is sent reaches Koa's
 * error handling (upstream `try { await next() }`), as a Koa middleware's own error would,
 * instead of becoming `runApp`'s generic 500. After the head, errors pass through untouched.
 */
export class GuardedBody implements AsyncIterable<Chunk>, AsyncIterator<Chunk> {
  private iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined = undefined;
  private stopped = false;

  constructor(
    private readonly inner: ResponseBody,
    private readonly owner: GuardOwner,
    private readonly startResponse: StartResponse,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    return this;
  }

  next(): Promise<IteratorResult<Chunk>> {
    let step: IteratorResult<Chunk> | Promise<IteratorResult<Chunk>>;
    try {
      step = (this.iterator ??= open(this.inner)).next();
    } catch (error) {
      return this.failed(error);
    }
    if (!(step instanceof Promise)) return Promise.resolve(step);
    return this.owner.headSent() ? step : step.then(undefined, (error: unknown) => this.failed(error));
  }

  /** §9.5: an early stop ends the inner iterator too. */
  return(): Promise<IteratorResult<Chunk>> {
    return this.stop().then(() => DONE);
  }

  /** §13.4: the server closes this body once, and this body closes the one it wraps. */
  close(): void | Promise<void> {
    return this.inner.close?.();
  }

  private failed(error: unknown): Promise<IteratorResult<Chunk>> {
    if (this.owner.headSent()) return Promise.reject(error);
    try {
      this.owner.fail(error, this.startResponse);
    } catch (rethrown) {
      return Promise.reject(rethrown);
    }
    void this.stop().catch(() => {});
    return Promise.resolve(DONE);
  }

  private async stop(): Promise<void> {
    if (this.stopped || this.iterator === undefined) return;
    this.stopped = true;
    await this.iterator.return?.();
  }
}

/** §9.1: `Symbol.iterator` wins when a body has both. */
function open(body: ResponseBody): Iterator<Chunk> | AsyncIterator<Chunk> {
  return Symbol.iterator in body ? (body as Iterable<Chunk>)[Symbol.iterator]() : (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
}
