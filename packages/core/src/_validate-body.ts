import { ValidationError, isThenable } from './_validate-error.ts';
import type { ResponseCheck } from './_validate-response.ts';
import type { Chunk, ErrorStream, ResponseBody } from './types.ts';

interface Unclosed {
  errors: ErrorStream;
  request: string;
}

// §9.4 fallback: a server that drops a body without calling close() can only be caught when
// the body is garbage-collected; a warning then is better than silence.
const unclosed = new FinalizationRegistry<Unclosed>(({ errors, request }) => {
  try {
    errors.write(`§9.4: warning: the response body of ${request} was garbage-collected without close() being called\n`);
  } catch {
    // Nothing more can be reported.
  }
});

type CheckedBody = Partial<Iterable<Chunk> & AsyncIterable<Chunk>> & { close(): void | Promise<void> };

/**
 * §13.4 bookkeeping shared by nested validators through environ, as YieldCounter is for
 * §13.3: the bodies of every validator inside the outermost one that are not closed yet.
 * Closing the outermost body ends the exchange, so whatever is left then was dropped.
 */
export class OpenBodies {
  private readonly checks = new Set<BodyCheck>();

  add(check: BodyCheck): void {
    this.checks.add(check);
  }

  delete(check: BodyCheck): void {
    this.checks.delete(check);
  }

  /** Throws a §13.4 error naming the bodies still open, each reported here once. */
  report(request: string): void {
    const dropped = [...this.checks];
    if (dropped.length === 0) return;
    this.checks.clear();
    // Reported now, so not again as a §9.4 warning when they are collected.
    for (const check of dropped) unclosed.unregister(check);
    const what = dropped.length === 1 ? 'an inner response body' : `${dropped.length} inner response bodies`;
    const statuses = dropped.map((check) => check.response.status ?? 'no status').join(', ');
    fail('§13.4', `the exchange for ${request} ended, but close() was never called on ${what} (${statuses}); a middleware that replaces or discards an inner body calls its close()`);
  }
}

/** Where a checked body stands among nested validators (§13.4). */
export interface BodyScope {
  /** The request line, `GET /path`, for messages. */
  request: string;
  /** The exchange's open inner bodies, shared by all its validators. */
  open: OpenBodies;
  /** No validator is further out: this body's close() ends the exchange and checks `open`. */
  outermost: boolean;
}

/**
 * Wraps the application's body so the server's use of it is checked (§9.3–§9.6) and each
 * chunk goes through `response` (§6.5, §9.2, §10, §13.3). The wrapper offers the same
 * iteration protocols as the body (a sync body stays sync) and always has `close()`, which
 * the server must call exactly once; it forwards to the body's own `close()`, if any.
 */
export function checkedBody(inner: ResponseBody, response: ResponseCheck, scope: BodyScope): ResponseBody {
  const check = new BodyCheck(inner, response, scope);
  const body: CheckedBody = { close: () => check.close() };
  // Bound, not `() => check.openSync()`: see Exchange in run.ts.
  if (Symbol.iterator in inner) body[Symbol.iterator] = check.openSync.bind(check);
  if (Symbol.asyncIterator in inner) body[Symbol.asyncIterator] = check.openAsync.bind(check);
  unclosed.register(body, { errors: response.errors, request: scope.request }, check);
  return body as ResponseBody;
}

function fail(rule: string, detail: string): never {
  throw new ValidationError(rule, detail);
}

/** Stops an inner iterator the validator is abandoning because it threw a violation. */
function release(iterator: Iterator<unknown> | AsyncIterator<unknown>): void {
  try {
    const result: unknown = iterator.return?.();
    if (isThenable(result)) result.then(undefined, () => {});
  } catch {
    // The violation being thrown matters more than a failing cleanup.
  }
}

class BodyCheck {
  opened = false;
  /** Iteration is over: the body ended, threw, or the server called return() (§9.5). */
  ended = false;
  /** The body was read to its end. */
  exhausted = false;
  closes = 0;

  constructor(
    readonly inner: ResponseBody,
    readonly response: ResponseCheck,
    readonly scope: BodyScope,
  ) {
    if (!scope.outermost) scope.open.add(this);
  }

  openSync(): Iterator<Chunk> {
    this.open();
    return new SyncIteratorCheck(this, (this.inner as Iterable<unknown>)[Symbol.iterator]());
  }

  openAsync(): AsyncIterator<Chunk> {
    this.open();
    return new AsyncIteratorCheck(this, (this.inner as AsyncIterable<unknown>)[Symbol.asyncIterator]());
  }

  // The wrapper only exists once the application has returned its body, so the server
  // cannot iterate it earlier (§9.6); what is left to check is "once" and "not after close()".
  private open(): void {
    if (this.closes > 0) fail('§9.6', 'the body was iterated after close()');
    if (this.opened) fail('§9.3', 'the body was iterated a second time; the server iterates it once');
    this.opened = true;
  }

  beforeNext(): void {
    if (this.closes > 0) fail('§9.6', 'next() was called on the body after close()');
  }

  /** Checks a step the inner iterator produced; returns it unchanged. */
  step(step: IteratorResult<unknown>): IteratorResult<Chunk> {
    // A step that settles after close() (a client abort left it pending) goes nowhere.
    if (this.closes > 0) return step as IteratorResult<Chunk>;
    if (step.done) {
      this.ended = this.exhausted = true;
      this.response.end();
    } else {
      this.response.chunk(step.value);
    }
    return step as IteratorResult<Chunk>;
  }

  /** {@link step}, stopping the inner iterator when the step is refused. */
  checkedStep(step: IteratorResult<unknown>, inner: Iterator<unknown> | AsyncIterator<unknown>): IteratorResult<Chunk> {
    try {
      return this.step(step);
    } catch (error) {
      // The server sees a throw and need not call return(), so the inner iterator is stopped here.
      this.ended = true;
      if (!step.done) release(inner);
      throw error;
    }
  }

  close(): void | Promise<void> {
    if (++this.closes > 1) fail('§9.4', 'close() was called a second time; the server calls it exactly once');
    unclosed.unregister(this);
    this.scope.open.delete(this);
    this.response.closed(this.exhausted);
    const abandoned = this.opened && !this.ended;
    // Forwarded first, and only on the first call: the body's own close() runs exactly once.
    const result = typeof this.inner.close === 'function' ? this.inner.close() : undefined;
    if (!abandoned && !this.scope.outermost) return result;
    // The checks wait for the forwarded close(): a body that wraps another may close it late.
    if (isThenable(result)) return Promise.resolve(result).then(() => this.afterClose(abandoned));
    return this.afterClose(abandoned);
  }

  /** What close() checks once the forwarded close() has run: §9.5 here, then §13.4 inside. */
  private afterClose(abandoned: boolean): void {
    if (abandoned) fail('§9.5', "close() was called while the body was still being iterated; an early stop calls the iterator's return() first");
    if (this.scope.outermost) this.scope.open.report(this.scope.request);
  }
}

class SyncIteratorCheck implements Iterator<Chunk> {
  constructor(
    readonly check: BodyCheck,
    readonly inner: Iterator<unknown>,
  ) {}

  next(): IteratorResult<Chunk> {
    this.check.beforeNext();
    let step: IteratorResult<unknown>;
    try {
      step = this.inner.next();
    } catch (error) {
      this.check.ended = true;
      throw error;
    }
    return this.check.checkedStep(step, this.inner);
  }

  /** §9.5: an early stop is forwarded to the body's iterator. */
  return(value?: unknown): IteratorResult<Chunk> {
    this.check.ended = true;
    if (typeof this.inner.return !== 'function') return { done: true, value: undefined };
    return this.inner.return(value) as IteratorResult<Chunk>;
  }

  [Symbol.iterator](): this {
    return this;
  }
}

class AsyncIteratorCheck implements AsyncIterator<Chunk> {
  constructor(
    readonly check: BodyCheck,
    readonly inner: AsyncIterator<unknown>,
  ) {}

  async next(): Promise<IteratorResult<Chunk>> {
    this.check.beforeNext();
    let step: IteratorResult<unknown>;
    try {
      step = await this.inner.next();
    } catch (error) {
      this.check.ended = true;
      throw error;
    }
    return this.check.checkedStep(step, this.inner);
  }

  /** §9.5: an early stop is forwarded to the body's iterator. */
  async return(value?: unknown): Promise<IteratorResult<Chunk>> {
    this.check.ended = true;
    if (typeof this.inner.return !== 'function') return { done: true, value: undefined };
    return (await this.inner.return(value)) as IteratorResult<Chunk>;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
