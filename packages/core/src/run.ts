import { checkHeaders, checkStatus } from './_headers.ts';
import { describe, toBytes } from './body.ts';
import { HttpError, describeError } from './errors.ts';
import type { Application, Chunk, Environ, HeaderList, ResponseBody, StartResponse, Write } from './types.ts';

/**
 * Where {@link runApp} sends a response: a Node `ServerResponse`, a fetch `Response`
 * stream, the test client. `runApp` keeps every server rule; a sink only moves bytes.
 */
export interface ResponseSink {
  /**
   * Sends the head. Called at most once, before any `write`. `flush` is true for the
   * explicit `write('')` of §8.3: the head must go out now, not with the first body bytes.
   */
  head(status: number, reason: string, headers: HeaderList, flush: boolean): void;
  /** Sends body bytes; a returned promise makes `runApp` wait for it (backpressure). */
  write(bytes: Uint8Array): void | Promise<void>;
  /** The response is complete. */
  end(): void;
  /** The response cannot complete (error after the head, short body, client gone): drop the connection. */
  destroy(error: unknown): void;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};

/**
 * Runs an application for one request and sends its response to `sink`, keeping the
 * server's side of the contract: held-back head (§8), body iteration and `close()` (§9),
 * Content-Length and bodiless responses (§10), errors (§11) and client disconnect (§12).
 * Resolves when the response is finished or abandoned; it never rejects.
 */
export function runApp(app: Application, environ: Environ, sink: ResponseSink): Promise<void> {
  return new Exchange(environ, sink).run(app);
}

class Exchange {
  status: string | undefined;
  headers: HeaderList = [];
  contentLength: number | undefined;
  headSent = false;
  noBody = false;
  iterating = false;
  sent = 0;
  readonly signal: AbortSignal;
  readonly head: boolean;
  readonly startResponse: StartResponse = (status, headers, error) => this.start(status, headers, error);
  readonly write: Write = (chunk) => this.writeChunk(chunk);

  constructor(
    readonly environ: Environ,
    readonly sink: ResponseSink,
  ) {
    this.signal = environ['ngi.signal'];
    this.head = environ.REQUEST_METHOD === 'HEAD';
  }

  async run(app: Application): Promise<void> {
    let body: ResponseBody | undefined;
    try {
      body = await app(this.environ, this.startResponse);
      if (body == null || typeof body === 'string' || body instanceof Uint8Array || !isIterable(body)) {
        throw new TypeError(`§9.1: an application must return an Iterable or AsyncIterable of chunks, got ${describe(body)}`);
      }
      await this.iterate(body);
      this.finish();
    } catch (error) {
      this.fail(error);
    } finally {
      if (typeof body?.close === 'function') await this.close(body);
    }
  }

  start(status: string, headers: HeaderList, error?: unknown): Write {
    if (this.status !== undefined) {
      if (error === undefined) throw new TypeError('§6.4: startResponse called twice without an error argument');
      if (this.headSent) throw error;
    }
    checkStatus(status);
    this.contentLength = checkHeaders(headers);
    this.status = status;
    this.headers = headers;
    const code = status.charCodeAt(0) - 48;
    this.noBody = this.head || code === 1 || status.startsWith('204') || status.startsWith('304');
    return this.write;
  }

  writeChunk(chunk: Chunk): Promise<void> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    if (this.status === undefined) return Promise.reject(new TypeError('§7.2: write called before startResponse'));
    try {
      const bytes = toBytes(chunk);
      if (bytes.byteLength === 0) {
        if (!this.headSent) this.sendHead(true); // §8.3: the explicit flush, allowed at any time
        return Promise.resolve();
      }
      if (this.iterating) throw new TypeError('§7.2: write called with bytes after the body was returned');
      return Promise.resolve(this.send(bytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async iterate(body: ResponseBody): Promise<void> {
    this.iterating = true;
    const sync = Symbol.iterator in body;
    const iterator: Iterator<Chunk> | AsyncIterator<Chunk> = sync
      ? (body as Iterable<Chunk>)[Symbol.iterator]()
      : (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
    let done = false;
    try {
      for (;;) {
        // Nothing more can be sent for HEAD/1xx/204/304 once the head is known (§10.3).
        if (this.noBody && this.status !== undefined) break;
        if (this.signal.aborted) throw this.signal.reason;
        const step = sync ? (iterator as Iterator<Chunk>).next() : await this.race((iterator as AsyncIterator<Chunk>).next());
        if (step.done) {
          done = true;
          break;
        }
        const bytes = toBytes(step.value);
        if (bytes.byteLength === 0) continue; // §8.2
        const pending = this.send(bytes);
        if (pending !== undefined) await this.race(pending);
      }
    } finally {
      // §9.5: an early stop ends the iterator.
      if (!done && typeof iterator.return === 'function') await this.stop(iterator);
    }
  }

  /** Calls the iterator's `return()`; a generator stuck awaiting after an abort is not waited for. */
  async stop(iterator: Iterator<Chunk> | AsyncIterator<Chunk>): Promise<void> {
    try {
      const returned = iterator.return!();
      if (returned instanceof Promise) {
        const logged = returned.catch((error: unknown) => this.log('§9.5: iterator return() failed', error));
        if (!this.signal.aborted) await logged;
      }
    } catch (error) {
      this.log('§9.5: iterator return() failed', error);
    }
  }

  /** Waits for `promise`, or rejects as soon as the client goes away (§12.1). */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    const signal = this.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(
        (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
        (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
      );
    });
  }

  send(bytes: Uint8Array): void | Promise<void> {
    if (this.status === undefined) throw new Error('§6.5: the body produced a chunk before startResponse was called');
    if (this.contentLength !== undefined && !this.noBody && this.sent + bytes.byteLength > this.contentLength) {
      throw new Error(`§10.1: the body exceeds its Content-Length of ${this.contentLength} bytes`);
    }
    if (!this.headSent) this.sendHead();
    if (this.noBody) return;
    this.sent += bytes.byteLength;
    return this.sink.write(bytes);
  }

  sendHead(flush = false): void {
    const status = this.status!;
    this.headSent = true;
    this.sink.head(Number(status.slice(0, 3)), status.slice(4), this.headers, flush);
  }

  finish(): void {
    if (this.status === undefined) throw new Error('§11.3: the body ended but startResponse was never called');
    if (!this.headSent) this.sendHead();
    if (this.contentLength !== undefined && !this.noBody && this.sent < this.contentLength) {
      const error = new Error(`§10.1: the body sent ${this.sent} of its ${this.contentLength} Content-Length bytes`);
      this.log('', error);
      this.sink.destroy(error);
      return;
    }
    this.sink.end();
  }

  fail(error: unknown): void {
    if (this.signal.aborted) {
      this.sink.destroy(this.signal.reason);
    } else if (this.headSent) {
      this.log('§11.2: error after the response head was sent; connection dropped', error);
      this.sink.destroy(error);
    } else {
      this.headSent = true;
      // An HttpError (a 413 from readBody, say) is the client's mistake: answer it as such.
      if (error instanceof HttpError) return this.sendPlain(error.status, error.message);
      this.log('§11.1: error before the response head was sent; answered 500', error);
      this.sendPlain(500, 'Internal Server Error');
    }
  }

  sendPlain(status: number, message: string): void {
    const bytes = new TextEncoder().encode(message);
    const headers: HeaderList = [['content-type', 'text/plain; charset=utf-8'], ['content-length', String(bytes.byteLength)]];
    this.sink.head(status, STATUS_TEXT[status] ?? 'Error', headers, false);
    if (!this.head) this.sink.write(bytes);
    this.sink.end();
  }

  async close(body: ResponseBody): Promise<void> {
    try {
      await body.close!();
    } catch (error) {
      this.log('§9.4: body close() failed', error);
    }
  }

  log(message: string, error: unknown): void {
    const text = message ? `${message}: ${describeError(error)}` : describeError(error);
    try {
      this.environ['ngi.errors'].write(text + '\n');
    } catch {
      // The error stream itself failed; nothing more can be reported.
    }
  }
}

function isIterable(value: unknown): value is ResponseBody {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  return Symbol.iterator in value! || Symbol.asyncIterator in value!;
}
