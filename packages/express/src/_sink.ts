import type { ServerResponse } from 'node:http';
import { ResponseDiscarded, isCascadePass, type Chunk, type HeaderList, type ResponseSink } from '@ngi/core';
import type { NodeSink } from '@ngi/node';

/** Express's `next`. */
export type Next = (error?: unknown) => void;

const SEND = 0;
/** The application declined the request (404 + `x-cascade: pass`): Express's next handler gets it. */
const PASS = 1;
/** The application failed before its head: Express's error handlers get the error. */
const FAIL = 2;
type State = typeof SEND | typeof PASS | typeof FAIL;


/**
 * One request of an application mounted in Express: `runApp` keeps the server rules and sends
 * the response here, and this decides whether it goes to Express's `res` (through `NodeSink`),
 * to the next handler (fall-through, §14.1) or to Express's error handlers (an error before
 * the head).
 */
export class ExpressSink implements ResponseSink {
  /** The application started reading `ngi.input`: the body is gone, so no fall-through (§14.1). */
  inputUsed = false;
  private state: State = SEND;
  private error: unknown = undefined;
  /** Express's next handler has been called: at most once. */
  private handedOver = false;
  /** The response when a compressing middleware gave it a `flush()`, else undefined. */
  private readonly flushable: Flushable | undefined;

  constructor(
    private readonly next: Next,
    private readonly fallthrough: boolean,
    private readonly sink: NodeSink,
    res: ServerResponse & Partial<Flushable>,
  ) {
    this.flushable = typeof res.flush === 'function' ? (res as Flushable) : undefined;
  }

  /** An error before the head: Express's error handlers get it. */
  fail(error: unknown): void {
    this.error = error ?? new Error('toExpress: the application threw undefined');
    this.state = FAIL;
    this.end();
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    if (this.fallthrough && !this.inputUsed && isCascadePass(status, headers)) this.state = PASS;
    else this.sink.head(status, reason, headers, flush);
  }

  write(chunk: Chunk): void | Promise<void> {
    if (this.state === SEND) {
      const written = this.sink.write(chunk);
      // compression() holds what zlib has not filled a block with until `res.flush()`, as its
      // README says for event streams: each chunk goes out as it is produced (§9.3).
      if (this.flushable !== undefined) this.flushable.flush();
      return written;
    }
    // A declined body is not run to its end: runApp stops and closes it, and the next handler
    // gets the request once that is done (after this turn's promise jobs).
    if (this.handedOver) return Promise.reject(new ResponseDiscarded());
    this.handedOver = true;
    setImmediate(handOver, this.next, undefined);
    return Promise.reject(new ResponseDiscarded());
  }

  end(last?: Chunk): void {
    if (this.state === SEND) return this.sink.end(last);
    if (this.handedOver) return;
    this.handedOver = true;
    // A body the application started reading is Express's error handler's to answer over; a
    // declined request's body is untouched, for the next handler to read (§14.1).
    if (this.state === FAIL) this.sink.release();
    // After runApp has closed the declined body (§14.1), as Express calls `done` on a later tick.
    process.nextTick(handOver, this.next, this.state === FAIL ? this.error : undefined);
  }

  destroy(error: unknown): void {
    if (this.state === PASS) this.end();
    else this.sink.destroy(error);
  }
}

/** A response whose body a middleware compresses (compression(): `res.flush()` pushes out what zlib holds). */
interface Flushable {
  flush(): void;
}

function handOver(next: Next, error: unknown): void {
  if (error === undefined) next();
  else next(error);
}

