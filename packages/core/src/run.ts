import { checkHeaders, checkStatus, statusCode, statusReason } from './_headers.ts';
import { abortWatchOf, onClientGone, watchSignal, type AbortWatch } from './client-watch.ts';
import { chunkLength, describe, utf8Length } from './body.ts';
import { HttpError, ResponseDiscarded, describeError, isReportedInside } from './errors.ts';
import { isThenable } from './_validate-error.ts';
import type { Application, Chunk, Environ, HeaderList, ResponseBody, StartResponse, Write } from './types.ts';

/**
 * Where {@link runApp} sends a response: a Node `ServerResponse`, a fetch `Response`
 * stream, the test client. `runApp` keeps every server rule; a sink only moves bytes.
 * `runApp` learns that the client left from the environ's `ngi.signal` (§4.6), not from the
 * sink: a server aborts it when the connection closes, and a `write` waiting on backpressure
 * should settle then too.
 */
export interface ResponseSink {
  /**
   * Sends the head. Called once, before any `write`. `flush` is true for the
   * explicit `write('')` of §8.3: the head must go out now, not with the first body bytes.
   * A sink may refuse a head it cannot send by throwing, before it has changed anything:
   * `runApp` then answers that error (§11.1), calling `head` again with the error's head.
   */
  head(status: number, reason: string, headers: HeaderList, flush: boolean): void;
  /**
   * Sends a non-empty body chunk (strings as UTF-8; passing them through spares an encode
   * where the transport takes strings); a returned promise makes `runApp` wait (backpressure).
   * An application calling its `write` without awaiting may have several writes pending (§7.1).
   */
  write(chunk: Chunk): void | Promise<void>;
  /**
   * The response is complete. `last` is a final non-empty chunk to send with the end, so a
   * one-chunk body goes out in a single call, as `res.end(data)` does.
   */
  end(last?: Chunk): void;
  /**
   * The response cannot complete (error after the head, short body, client gone): drop the
   * connection. Returns true where nothing had reached the client yet and the host framework's
   * error handler answers instead (a body held back to go whole): it reports the error itself.
   */
  destroy(error: unknown): void | boolean;
  /**
   * Where a host framework answers errors itself (Express's `next(err)`, Fastify's error handler,
   * Koa's): takes an error before the head instead of `runApp`'s 500 (§11.1), which neither logs
   * it nor sends anything more to the sink.
   */
  fail?(error: unknown): void;
}

/** The reason phrases of the client and server errors RFC 9110 and its registry define, for an HttpError's answer. */
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large',
  414: 'URI Too Long', 415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 417: 'Expectation Failed',
  421: 'Misdirected Request', 422: 'Unprocessable Content', 423: 'Locked', 424: 'Failed Dependency', 425: 'Too Early',
  426: 'Upgrade Required', 428: 'Precondition Required', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported', 506: 'Variant Also Negotiates',
  507: 'Insufficient Storage', 508: 'Loop Detected', 510: 'Not Extended', 511: 'Network Authentication Required',
};

/**
 * Runs an application for one request and sends its response to `sink`, keeping the
 * server's side of the contract: held-back head (§8), body iteration and `close()` (§9),
 * Content-Length and bodiless responses (§10), errors (§11) and client disconnect (§12).
 * Resolves when the response is finished or abandoned; it never rejects.
 */
export function runApp(app: Application, environ: Environ, sink: ResponseSink): Promise<void> {
  const exchange = new Exchange(environ, sink);
  const running = exchange.run(app);
  if (running === undefined) {
    exchange.release();
    return DONE;
  }
  return running.then(() => exchange.release());
}

const DONE = Promise.resolve();

/** The head of an answer a server gives itself (§11.1, §3.3): its reason phrase, and plain text. */
export function plainHead(status: number, message: string): { reason: string; headers: HeaderList } {
  const headers: HeaderList = [['content-type', 'text/plain; charset=utf-8'], ['content-length', String(utf8Length(message))]];
  return { reason: STATUS_TEXT[status] ?? 'Error', headers };
}

const NO_HEADERS = Object.freeze([]) as unknown as HeaderList;

class Exchange {
  status: string | undefined;
  code = 0;
  headers: HeaderList = NO_HEADERS;
  contentLength: number | undefined;
  headSent = false;
  noBody = false;
  iterating = false;
  sent = 0;
  /** Rejects the promise `race` waits on; set once it first waits. */
  rejectWaiting: ((reason: unknown) => void) | undefined = undefined;
  /** How the client is watched: the environ's watch, or null for `ngi.signal`; found on first need. */
  watch: AbortWatch | null | undefined = undefined;
  /** Stops watching the client; set once `race` first waits. */
  unwatch: (() => void) | undefined = undefined;
  /** The sink's promise the last waiting `write` got, and the watched one it returned. */
  lastWait: { sent: Promise<void>; watched: Promise<void> } | undefined = undefined;
  readonly head: boolean;
  // Class fields, so V8 makes both young and in one context. A function literal assigned to a
  // property (`this.write = (chunk) => …`) it takes for a method and, until the code is
  // optimized, allocates in the old generation: there a dead one is a root for every minor
  // collection until the next full one, keeping its exchange, and all that holds, alive. Under
  // load V8 then saw most header lists outlive minor collections and allocated all later ones
  // in the old generation, which it collected in full every few seconds.
  readonly startResponse: StartResponse = (status, headers, error) => this.start(status, headers, error);
  /** The `write` startResponse returns. */
  readonly write: Write = (chunk) => this.writeChunk(chunk);

  /** The request and the transport, until the response is over (see `release`). */
  environ: Environ | undefined;
  sink: ResponseSink | undefined;

  constructor(environ: Environ, sink: ResponseSink) {
    this.environ = environ;
    this.sink = sink;
    this.head = environ.REQUEST_METHOD === 'HEAD';
  }

  /**
   * The response is over: the exchange lets go of the request and the transport. Something may
   * hold it longer: an application that keeps its `startResponse` or `write`, or a dead `write`
   * in V8's old generation (see `write`), which minor collections take as alive. The request's
   * objects would then go on to the old generation too.
   */
  release(): void {
    this.environ = undefined;
    this.sink = undefined;
  }

  // Read when needed, not per request: a server may create the signal lazily (it is costly).
  get signal(): AbortSignal {
    return this.environ!['ngi.signal'];
  }

  /** The client went away; asked without making `ngi.signal` where the server allows it. */
  get gone(): boolean {
    const environ = this.environ!;
    const watch = (this.watch ??= abortWatchOf(environ) ?? null);
    return watch === null ? this.signal.aborted : watch.aborted(environ);
  }

  /** Runs the exchange; stays synchronous (no promise, no microtask) for a sync app with a sync body. */
  run(app: Application): void | Promise<void> {
    let result: ResponseBody | Promise<ResponseBody>;
    try {
      result = app(this.environ!, this.startResponse);
    } catch (error) {
      return this.fail(error);
    }
    if (isThenable(result)) return Promise.resolve(result).then((body) => this.respond(body), (error: unknown) => this.fail(error));
    return this.respond(result);
  }

  respond(body: ResponseBody): void | Promise<void> {
    // The common `[chunk]` body: sent with the end in one call (§9.3 holds: it is the last). A
    // `[undefined]` is iterated, so its chunk is refused (§9.2) rather than taken for no chunk.
    if (Array.isArray(body) && (body.length === 0 || (body.length === 1 && body[0] !== undefined))) {
      this.iterating = true;
      this.complete(body[0]);
      return this.close(body);
    }
    if (body == null || typeof body === 'string' || body instanceof Uint8Array || !isIterable(body)) {
      // A function: most likely a factory given where the application it makes belongs; a
      // Response: a fetch handler given where an application belongs.
      const hint =
        typeof body === 'function'
          ? ' (a factory that makes the application? call it, and pass what it returns)'
          : body instanceof Response
            ? ' (a fetch handler? wrap it: fromFetch(handler) from @ngi/fetch)'
            : '';
      this.fail(new TypeError(`§9.1: an application must return an Iterable or AsyncIterable of chunks, got ${describe(body)}${hint}`));
      // §11.1: whatever came back, its close() still runs (§9.4).
      return body == null ? undefined : this.close(body as ResponseBody);
    }
    let pending: void | Promise<void>;
    try {
      pending = Symbol.iterator in body ? this.iterateSync(body as Iterable<Chunk>) : this.iterate(body[Symbol.asyncIterator]());
    } catch (error) {
      this.fail(error);
      return this.close(body);
    }
    if (pending === undefined) {
      this.complete();
      return this.close(body);
    }
    return pending.then(() => this.complete(), (error: unknown) => this.fail(error)).then(() => this.close(body));
  }

  /** Ends the response, or fails it if it broke a rule at the end (§10.1, §11.3). */
  complete(last?: Chunk): void {
    try {
      this.finish(last);
    } catch (error) {
      this.fail(error);
    }
  }

  start(status: string, headers: HeaderList, error?: unknown): Write {
    if (this.status !== undefined) {
      if (error === undefined) throw new TypeError('§6.4: startResponse called twice without an error argument');
      if (this.headSent) throw error;
    }
    checkStatus(status);
    this.contentLength = checkHeaders(headers);
    const code = statusCode(status);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.noBody = this.head || code === 204 || code === 304;
    return this.write;
  }

  writeChunk(chunk: Chunk): Promise<void> {
    if (this.sink === undefined) return lateWrite(chunk);
    if (this.gone) return Promise.reject(this.signal.reason);
    if (this.status === undefined) return Promise.reject(new TypeError('§7.2: write called before startResponse'));
    try {
      const size = this.sizeOf(chunk);
      if (size === 0) {
        if (!this.headSent) this.sendHead(true); // §8.3: the explicit flush, allowed at any time
        return Promise.resolve();
      }
      if (this.iterating) throw new TypeError('§7.2: write called with bytes after the body was returned');
      const sent = this.send(chunk, size);
      return sent === undefined ? Promise.resolve() : this.watched(sent);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Iterates a sync body without leaving the current tick while the sink keeps up; the
   * first time it asks to wait (backpressure), the rest continues as an async iteration.
   */
  iterateSync(body: Iterable<Chunk>): void | Promise<void> {
    this.iterating = true;
    const iterator = body[Symbol.iterator]();
    try {
      for (;;) {
        // Nothing more can be sent for HEAD/204/304 once the head is known (§10.3).
        if (this.noBody && this.status !== undefined) break;
        const step = iterator.next();
        if (step.done) return;
        const pending = this.sendChunk(step.value);
        if (pending !== undefined) return this.iterate(iterator, pending);
      }
    } catch (error) {
      // The error goes on once return() is done: nothing of the exchange runs after runApp settles.
      if (typeof iterator.return === 'function') return this.stop(iterator).then(() => Promise.reject(error));
      throw error;
    }
    if (typeof iterator.return === 'function') return this.stop(iterator);
  }

  async iterate(iterator: Iterator<Chunk> | AsyncIterator<Chunk>, waiting?: Promise<void>): Promise<void> {
    this.iterating = true;
    let done = false;
    try {
      if (waiting !== undefined) await this.race(waiting);
      for (;;) {
        if (this.noBody && this.status !== undefined) break; // §10.3
        if (this.gone) throw this.signal.reason;
        const next = iterator.next();
        const step = isThenable(next) ? await this.race(Promise.resolve(next)) : next;
        if (step.done) {
          done = true;
          break;
        }
        const pending = this.sendChunk(step.value);
        if (pending !== undefined) await this.race(pending);
      }
    } finally {
      // What is watched may outlive the exchange (a server's shutdown signal): let go of it.
      this.unwatch?.();
      // §9.5: an early stop ends the iterator.
      if (!done && typeof iterator.return === 'function') await this.stop(iterator);
    }
  }

  /**
   * A chunk's size in bytes where a Content-Length is to be kept (§10.1); else only whether it is
   * empty matters, and a string is not measured as UTF-8 (a long one would take a while).
   */
  sizeOf(chunk: Chunk): number {
    if (typeof chunk === 'string' && this.contentLength === undefined) return chunk.length;
    return chunkLength(chunk);
  }

  /** Sends one chunk of the body; empty chunks are skipped (§8.2). */
  sendChunk(chunk: Chunk): void | Promise<void> {
    const size = this.sizeOf(chunk);
    if (size !== 0) return this.send(chunk, size);
  }

  /** Calls the iterator's `return()`; a generator stuck awaiting after an abort is not waited for. */
  async stop(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    try {
      const returned = iterator.return!();
      if (isThenable(returned)) {
        const logged = Promise.resolve(returned).catch((error: unknown) => this.log('§9.5: iterator return() failed', error));
        if (!this.gone) await logged;
      }
    } catch (error) {
      this.log('§9.5: iterator return() failed', error);
    }
  }

  /**
   * Waits for `promise`, or rejects as soon as the client goes away (§12.1). The iteration
   * waits on one promise at a time, so one watch per exchange rejects whichever is pending:
   * adding and removing an 'abort' listener per chunk cost more than the rest of a chunk's trip.
   */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.gone) {
      // Not waited for: a rejection of it (a sink refusing a write once the host dropped the
      // response) would otherwise be unhandled, which ends the process.
      promise.catch(() => {});
      return Promise.reject(this.signal.reason);
    }
    this.unwatch ??= this.watch ? this.watch.watch(this.environ!, this) : watchSignal(this.signal, this);
    return new Promise<T>((resolve, reject) => {
      this.rejectWaiting = reject;
      promise.then(resolve, reject);
    });
  }

  /**
   * A `write` waiting for the sink, which rejects as soon as the client goes away (§7.1): a
   * transport may never report room again for a connection that is gone. Only a write that has
   * to wait pays for a watch; writes made side by side that the sink has wait on one promise
   * share it (one listener on the transport, not one per write).
   */
  watched(sent: Promise<void>): Promise<void> {
    const last = this.lastWait;
    if (last !== undefined && last.sent === sent) return last.watched;
    const environ = this.environ!;
    const watched = new Promise<void>((resolve, reject) => {
      const unwatch = onClientGone(environ, { handleEvent: () => reject(environ['ngi.signal'].reason) });
      // The host sent another response, or the request went on (§14.1): what the application
      // writes has nowhere to go, which is no error of its own. Rejected, a write it did not
      // await would end the process; its body, if it has one, is still stopped and closed.
      const discarded = (error: unknown): void => (error instanceof ResponseDiscarded ? resolve() : reject(error));
      sent.then(resolve, discarded).finally(unwatch);
    });
    this.lastWait = { sent, watched };
    return watched;
  }

  /** The client went away: the promise `race` waits on rejects (a `ClientListener`). */
  handleEvent(): void {
    this.rejectWaiting!(this.signal.reason);
  }

  send(chunk: Chunk, size: number): void | Promise<void> {
    if (this.status === undefined) throw new Error('§6.5: the body produced a chunk before startResponse was called');
    if (this.contentLength !== undefined && !this.noBody && this.sent + size > this.contentLength) {
      throw new Error(`§10.1: the body exceeds its Content-Length of ${this.contentLength} bytes`);
    }
    if (!this.headSent) this.sendHead();
    if (this.noBody) return;
    this.sent += size;
    return this.sink!.write(chunk);
  }

  sendHead(flush = false): void {
    // Sent once the sink took it: a head the sink refuses (a status a fetch Response cannot
    // carry) leaves the error before the head, answered 500 (§11.1).
    this.sink!.head(this.code, statusReason(this.status!), this.headers, flush);
    this.headSent = true;
  }

  finish(last?: Chunk): void {
    const sink = this.sink!;
    let size = last === undefined ? 0 : this.sizeOf(last);
    if (size !== 0 && this.status === undefined) throw new Error('§6.5: the body produced a chunk before startResponse was called');
    if (this.status === undefined) throw new Error('§11.3: the body ended but startResponse was never called');
    if (this.noBody) size = 0; // §10.3
    if (size !== 0 && this.contentLength !== undefined && this.sent + size > this.contentLength) {
      throw new Error(`§10.1: the body exceeds its Content-Length of ${this.contentLength} bytes`);
    }
    if (!this.headSent) this.sendHead();
    this.sent += size;
    if (this.contentLength !== undefined && !this.noBody && this.sent < this.contentLength) {
      const error = new Error(`§10.1: the body sent ${this.sent} of its ${this.contentLength} Content-Length bytes`);
      // Nothing waits on this write: the connection is dropped right after it.
      if (size !== 0) void sink.write(last!)?.catch(() => {});
      if (!this.drop(error)) this.log('', error);
      return;
    }
    if (size !== 0) sink.end(last);
    else sink.end();
  }

  fail(error: unknown): void {
    const sink = this.sink!;
    if (this.gone) {
      this.drop(this.signal.reason);
    } else if (error instanceof ResponseDiscarded) {
      // The framework sent another response: the body is stopped and closed, nothing else.
    } else if (this.headSent) {
      if (!this.drop(error)) this.log('§11.2: error after the response head was sent; connection dropped', error);
    } else {
      this.headSent = true;
      try {
        if (sink.fail !== undefined) return sink.fail(error);
        // An HttpError (a 413 from readBody, say) is the client's mistake: answer it as such.
        if (error instanceof HttpError) return this.sendPlain(error.status, error.message);
        this.log('§11.1: error before the response head was sent; answered 500', error);
        this.sendPlain(500, 'Internal Server Error');
      } catch (failure) {
        // Not even the plain answer could go out: the connection is dropped, and runApp still settles.
        this.log('§11.1: the answer to an error could not be sent; connection dropped', failure);
        this.drop(failure);
      }
    }
  }

  /**
   * The sink's `destroy` (§11.2); true where the host reports the error itself. One that throws
   * is reported, not let out: runApp never rejects, and the body is still closed (§9.4).
   */
  drop(error: unknown): boolean {
    try {
      return this.sink!.destroy(error) === true;
    } catch (failure) {
      this.log('§11.2: the sink failed to drop the connection', failure);
      return false;
    }
  }

  sendPlain(status: number, message: string): void {
    const sink = this.sink!;
    const { reason, headers } = plainHead(status, message);
    sink.head(status, reason, headers, false);
    if (!this.head) sink.write(message);
    sink.end();
  }

  /** Calls the body's `close()`, if any, exactly once (§9.4); its failure is logged. */
  close(body: ResponseBody): void | Promise<void> {
    if (typeof body.close !== 'function') return;
    try {
      const closed = body.close();
      if (isThenable(closed)) return Promise.resolve(closed).catch((error: unknown) => this.log('§9.4: body close() failed', error));
    } catch (error) {
      this.log('§9.4: body close() failed', error);
    }
  }

  log(message: string, error: unknown): void {
    if (isReportedInside(error)) return;
    const text = message ? `${message}: ${describeError(error)}` : describeError(error);
    try {
      this.environ!['ngi.errors'].write(text + '\n');
    } catch {
      // The error stream itself failed; nothing more can be reported.
    }
  }
}

/** A `write` once the response is over: the flush of §8.3 has nothing left to do, and bytes nowhere to go (§7.2). */
function lateWrite(chunk: Chunk): Promise<void> {
  if (chunk === '' || (chunk instanceof Uint8Array && chunk.byteLength === 0)) return Promise.resolve();
  return Promise.reject(new TypeError('§7.2: write called after the response was over'));
}

function isIterable(value: unknown): value is ResponseBody {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  return Symbol.iterator in value! || Symbol.asyncIterator in value!;
}
