import type { ServerResponse } from 'node:http';
import { ResponseDiscarded, isCascadePass, type Chunk, type HeaderList, type ResponseSink } from '@ngi/core';
import { answerElsewhere, type NodeSink } from '@ngi/node';

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
  /** Writes to the response when compression() wraps it, else undefined: NodeSink writes. */
  private readonly compressed: CompressedWriter | undefined;

  constructor(
    private readonly next: Next,
    private readonly fallthrough: boolean,
    private readonly sink: NodeSink,
    private readonly res: ServerResponse & Partial<Flushable>,
  ) {
    this.compressed = typeof res.flush === 'function' ? new CompressedWriter(res as ServerResponse & Flushable) : undefined;
  }

  /** An error before the head: Express's error handlers get it. */
  fail(error: unknown): void {
    this.error = error && error !== 'route' && error !== 'router' ? error : notAnError(error);
    // Under fromExpress, the server outside may answer it, closing this response unfinished.
    answerElsewhere(this.res, this.error);
    this.state = FAIL;
    this.end();
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    if (this.fallthrough && !this.inputUsed && isCascadePass(status, headers)) this.state = PASS;
    else this.sink.head(status, reason, headers, flush);
  }

  write(chunk: Chunk): void | Promise<void> {
    if (this.state === SEND) return this.compressed === undefined ? this.sink.write(chunk) : this.compressed.write(chunk);
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

/**
 * Writes to a response compression() wraps. Each chunk is flushed through `res.flush()`: zlib
 * holds what has not filled a block, as compression's README says for event streams, and each
 * chunk must go out as it is produced (§9.3). A full response is waited on through one 'drain'
 * listener for the whole response: compression() moves `res.on('drain')` listeners to its zlib
 * stream, where `res.once`'s cleanup never finds them (expressjs/compression#135, #152).
 */
class CompressedWriter {
  /** What writes made while the response is full wait on, together (§7.1). */
  private drained: Promise<void> | undefined = undefined;
  private resolveDrained: (() => void) | undefined = undefined;
  private rejectDrained: ((error: unknown) => void) | undefined = undefined;
  private listening = false;

  constructor(private readonly res: ServerResponse & Flushable) {}

  write(chunk: Chunk): void | Promise<void> {
    const res = this.res;
    // Someone else ended the response (a timeout middleware's `res.end()`): the body is stopped
    // and closed (§9.4), as NodeSink stops it, where a write would wait for a 'drain' that never comes.
    if (res.writableEnded) return Promise.reject(new ResponseDiscarded());
    const room = res.write(chunk);
    res.flush();
    if (room) return;
    if (!this.listening) {
      this.listening = true;
      res.on('drain', () => this.onDrain());
      // Closed without draining: compression() ended by someone else meanwhile (its writes then
      // return false, and no 'drain' follows), or the client left (which runApp learns itself).
      res.once('close', () => this.onDrain());
    }
    this.drained ??= new Promise((resolve, reject) => {
      this.resolveDrained = resolve;
      this.rejectDrained = reject;
    });
    return this.drained;
  }

  private onDrain(): void {
    const resolve = this.resolveDrained;
    const reject = this.rejectDrained;
    this.drained = this.resolveDrained = this.rejectDrained = undefined;
    if (this.res.writableEnded) reject?.(new ResponseDiscarded());
    else resolve?.();
  }
}

/**
 * An Error for a thrown value Express's router would not take for one: a falsy value passes the
 * request on (`next(0)` is `next()`), `'route'` and `'router'` skip the rest of a route or router.
 */
function notAnError(value: unknown): Error {
  const what = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new Error(`toExpress: the application threw ${what}`, { cause: value });
}

function handOver(next: Next, error: unknown): void {
  if (error === undefined) next();
  else next(error);
}

