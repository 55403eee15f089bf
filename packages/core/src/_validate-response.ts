import { checkHeaders, checkStatus, getHeader } from './_headers.ts';
import { ValidationError, asValidationError, isThenable } from './_validate-error.ts';
import { describe, utf8Length } from './body.ts';
import { clientGone } from './client-watch.ts';
import type { Chunk, Environ, ErrorStream, HeaderList, StartResponse, Write } from './types.ts';

/**
 * §13.3 bookkeeping shared by nested validators through environ: how many chunks the
 * validated bodies one layer in have yielded since this layer last yielded or wrote one.
 */
export interface YieldCounter {
  pending: number;
  /** Bumped each time the outer layer settles, so an inner body knows which chunks still count. */
  epoch: number;
}

/**
 * The application's side of one response as the validator sees it: startResponse (§6),
 * write (§7), and every chunk from write or the body (§6.5, §9.2, §10), counted together.
 */
export class ResponseCheck {
  status: string | undefined;
  contentLength: number | undefined;
  /** 204 and 304 produce no bytes (§10.3); for HEAD the server drops them. */
  noBody = false;
  /** A chunk went to the server, or `write('')`: the head is out (§8.1, §8.3). */
  headSent = false;
  /** The header list as passed to startResponse, to tell whether the application changed it afterwards (§6.6). */
  private headers: HeaderList = [];
  private passed: HeaderList = [];
  /** Chunks this layer's body added to `outer.pending` in the outer layer's current epoch. */
  private contributed = 0;
  private epoch = -1;
  /** The application has returned its body; write() takes no more bytes (§7.2). */
  returned = false;
  sent = 0;
  /** The first violation found; rethrown at the next step in case the application swallowed it. */
  violation: ValidationError | undefined;
  readonly startResponse: StartResponse;
  readonly head: boolean;
  /** The server's own stream, for warnings. */
  readonly errors: ErrorStream;

  constructor(
    server: StartResponse,
    /** The environ the server passed, not the application's copy. */
    readonly environ: Environ,
    /** Bumped by validators one layer in (this layer's application is their server). */
    readonly inner: YieldCounter,
    /** Bumped by this layer for the validator one layer out, if any. */
    readonly outer: YieldCounter | undefined,
  ) {
    this.head = environ.REQUEST_METHOD === 'HEAD';
    this.errors = environ['ngi.errors'];
    this.startResponse = ResponseCheck.startResponseOf(this, server);
  }

  /** Made by a function of its own, not assigned as a literal: see Exchange in run.ts. */
  private static startResponseOf(check: ResponseCheck, server: StartResponse): StartResponse {
    return function (status: string, headers: HeaderList, error?: unknown): Write {
      return check.start(server, arguments.length, status, headers, error);
    };
  }

  fail(rule: string, detail: string): never {
    throw this.record(new ValidationError(rule, detail));
  }

  private record(error: unknown): unknown {
    if (error instanceof ValidationError) this.violation ??= error;
    return error;
  }

  private start(server: StartResponse, count: number, status: string, headers: HeaderList, error: unknown): Write {
    if (count > 3) this.fail('§6.4', `startResponse takes (status, headers, error?), got ${count} arguments`);
    if (this.status !== undefined && error === undefined) {
      this.fail('§6.4', 'startResponse was called a second time without an error argument');
    }
    if (this.status !== undefined && !(error instanceof Error)) {
      this.warn(`§6.4: warning: the error argument of a second startResponse call is not an Error: ${describe(error)}`);
    }
    let contentLength: number | undefined;
    try {
      checkStatus(status);
      contentLength = checkHeaders(headers);
    } catch (cause) {
      throw this.record(asValidationError(cause));
    }
    const code = Number(status.slice(0, 3));
    this.checkBodiless(code, headers, contentLength);
    // Pass on exactly the arguments received: after the head, the server rethrows `error` (§6.4).
    let write: unknown;
    try {
      write = count === 3 ? server(status, headers, error) : server(status, headers);
    } catch (thrown) {
      if (this.headSent && count === 3 && thrown !== error && !clientGone(this.environ)) {
        this.fail('§6.4', `the server's startResponse threw ${String(thrown)} after the head was sent, where it rethrows its error argument`);
      }
      throw thrown;
    }
    // A write rejected because the client left sent no head, so the server may take the call.
    if (this.headSent && !clientGone(this.environ)) {
      this.fail('§6.4', "the server's startResponse returned after the head was sent, where a second call throws its error argument");
    }
    if (typeof write !== 'function') this.fail('§7.1', `the server's startResponse must return write(), got ${describe(write)}`);
    this.status = status;
    this.contentLength = contentLength;
    this.noBody = this.head || code === 204 || code === 304;
    this.passed = headers;
    this.headers = headers.map(([name, value]) => [name, value]);
    return (chunk) => this.writeChunk(write as Write, chunk);
  }

  /** §6.6: the server may send the list it was given as it is when the head goes out; checked again, it must still be what it checked. */
  private checkUnchanged(): void {
    const now = this.passed;
    const same = now.length === this.headers.length && this.headers.every(([name, value], i) => Array.isArray(now[i]) && now[i]!.length === 2 && now[i]![0] === name && now[i]![1] === value);
    if (!same) this.fail('§6.6', 'the header list was changed after it was passed to startResponse; pass a new list to a second call (§6.4) instead');
  }

  /** §10.4: what 204 and 304 must not carry; a missing Content-Type elsewhere is only a warning. */
  private checkBodiless(code: number, headers: HeaderList, contentLength: number | undefined): void {
    const hasType = getHeader(headers, 'content-type') !== undefined;
    if (code === 204 && contentLength !== undefined) {
      this.fail('§10.4', `a ${code} response carries no Content-Length`);
    }
    if ((code === 204 || code === 304) && hasType) this.fail('§10.4', `a ${code} response carries no Content-Type`);
    if (!hasType && code !== 204 && code !== 304) {
      this.warn(`§10.4: warning: the ${code} response has no Content-Type header`);
    }
  }

  warn(message: string): void {
    try {
      this.errors.write(message + '\n');
    } catch {
      // A broken error stream must not turn a warning into a failure.
    }
  }

  /** §7.2: a write refused is a rejected promise, as the server's is, never a throw. */
  private writeChunk(serverWrite: Write, chunk: Chunk): Promise<void> {
    try {
      const size = this.size(chunk, 'write()');
      if (size !== 0) {
        if (this.returned) this.fail('§7.2', 'write() was called with bytes after the application returned its body');
        this.count(size, 'write()');
      }
      this.checkUnchanged();
      this.settle();
    } catch (error) {
      return Promise.reject(error as Error);
    }
    this.headSent = true;
    const pending: unknown = serverWrite(chunk);
    if (!isThenable(pending)) return Promise.reject(this.record(new ValidationError('§7.1', `the server's write() must return a Promise, got ${describe(pending)}`)));
    return pending as Promise<void>; // the server's own promise: backpressure is untouched
  }

  /** Checks one chunk the body yielded (§9.2, §6.5, §10.1, §10.3, §13.3). */
  chunk(value: unknown): void {
    if (this.violation) throw this.violation;
    const size = this.size(value, 'the body');
    if (size !== 0) {
      this.count(size, 'the body');
      this.checkUnchanged();
      this.headSent = true;
    }
    this.settle();
    if (!this.outer) return;
    if (this.epoch !== this.outer.epoch) {
      this.epoch = this.outer.epoch;
      this.contributed = 0;
    }
    this.outer.pending++;
    this.contributed++;
  }

  /**
   * The body was closed: chunks of a body a dispatcher discarded never had to be passed on
   * (§13.3, §14.1). Those of a body read to its end were taken, and count: a middleware that
   * reads it all, closes it and then yields accumulated it.
   */
  closed(exhausted: boolean): void {
    if (!exhausted && this.outer && this.epoch === this.outer.epoch) this.outer.pending -= this.contributed;
    this.contributed = 0;
  }

  /** The body is exhausted (§11.3, §10.1, §13.3). */
  end(): void {
    if (this.violation) throw this.violation;
    if (this.status === undefined) this.fail('§11.3', 'the body ended but startResponse was never called');
    this.checkUnchanged();
    if (this.contentLength !== undefined && !this.noBody && this.sent !== this.contentLength) {
      this.fail('§10.1', `the response produced ${this.sent} bytes, but its Content-Length is ${this.contentLength}`);
    }
    this.settle();
  }

  /**
   * §13.3, the "at least one yield per inner chunk" rule, checked the way Rack::Lint does:
   * by counting. A validator one layer in bumps `inner.pending` for each chunk its body
   * yields; each time this layer yields (or writes) a chunk, or ends, at most one such chunk
   * may be pending. Two or more means the middleware between the layers took several inner
   * chunks before passing anything on: it accumulates instead of streaming.
   */
  private settle(): void {
    const pending = this.inner.pending;
    if (pending > 1) {
      this.fail('§13.3', `the middleware took ${pending} chunks from the inner body before yielding one; it yields at least once per inner chunk`);
    }
    this.inner.pending = 0;
    this.inner.epoch++;
  }

  /** A chunk's type (§9.2); returns 0 when it is empty, else its size in bytes (when counting) or a positive number. */
  private size(chunk: unknown, source: string): number {
    if (typeof chunk === 'string') return this.contentLength === undefined || chunk.length === 0 ? chunk.length : utf8Length(chunk);
    if (chunk instanceof Uint8Array) return chunk.byteLength;
    return this.fail('§9.2', `${source} produced ${describe(chunk)}; a chunk is a Uint8Array or a string`);
  }

  private count(size: number, source: string): void {
    if (this.status === undefined) this.fail('§6.5', `${source} produced a non-empty chunk before startResponse was called`);
    if (this.noBody) {
      // A HEAD response may carry the GET body; the server drops it (§10.3). 204/304 have none.
      if (this.head && !/^(204|304)/.test(this.status)) return;
      this.fail('§10.3', `a ${this.status.slice(0, 3)} response has no body, but ${source} produced bytes`);
    }
    if (this.contentLength === undefined) return;
    this.sent += size;
    if (this.sent > this.contentLength) {
      this.fail('§10.1', `the response produced ${this.sent} bytes, more than its Content-Length of ${this.contentLength}`);
    }
  }
}
