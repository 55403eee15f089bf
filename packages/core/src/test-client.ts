import { concatBytes, toBytes } from './body.ts';
import { ENVIRON_INIT, createEnviron, type EnvironInit } from './create-environ.ts';
import { HttpError, checkOptions, type OptionTypes } from './errors.ts';
import { type ResponseSink, plainHead, runApp } from './run.ts';
import type { Application, Chunk, Environ, HeaderList } from './types.ts';
import { validator } from './validator.ts';

/** A test request's fields: an environ's but `errors`, which the client collects itself, and `validate`. */
const { errors: _errors, ...ENVIRON_FIELDS } = ENVIRON_INIT;
const TEST_REQUEST: OptionTypes = { ...ENVIRON_FIELDS, validate: 'boolean' };

export interface TestRequest extends Omit<EnvironInit, 'errors'> {
  /** Aborts `ngi.signal`, as a client going away would, until the response is complete (§12.2). */
  signal?: AbortSignal | undefined;
  /**
   * Wrap the app in {@link validator}, so a contract violation fails the request.
   * @default true
   */
  validate?: boolean | undefined;
}

export interface TestResponseHead {
  status: number;
  statusText: string;
  /** Every header in the order sent; names as the app wrote them. */
  headers: HeaderList;
  /** The first value of a header, by case-insensitive name. */
  header(name: string): string | undefined;
  /** Everything written to `ngi.errors` so far. */
  errors: string[];
}

export interface TestResponse extends TestResponseHead {
  body: Uint8Array;
  text(): string;
  json(): unknown;
}

export interface StreamingTestResponse extends TestResponseHead {
  /** The body's chunks as the app produces them; one chunk is held at a time (backpressure). Breaking out aborts the request. */
  body: AsyncIterable<Uint8Array>;
}

/**
 * Runs `app` in process and collects the whole response. Rejects if the response is abandoned
 * (§11.2, §12). Like a server, answers 400 itself for a request it would refuse: a path it
 * cannot decode (§3.3), a bad or repeated Host or Content-Length (§5.3).
 */
export async function request(app: Application, init: TestRequest = {}): Promise<TestResponse> {
  // `request(app, '/users/1')` would ask for `/`.
  checkOptions(init, 'request', TEST_REQUEST);
  const response = await stream(app, init);
  const parts: Uint8Array[] = [];
  for await (const part of response.body) parts.push(part);
  const body = concatBytes(parts);
  return {
    ...response,
    body,
    text: () => new TextDecoder().decode(body),
    json: () => JSON.parse(new TextDecoder().decode(body)) as unknown,
  };
}

/**
 * Runs `app` in process and resolves at the response head; the body streams as the app
 * produces it, one chunk in flight, so the app sees backpressure as it would from a socket.
 * Bad input (no application, a bad `scriptName`) rejects the promise.
 */
export async function stream(app: Application, init: TestRequest = {}): Promise<StreamingTestResponse> {
  checkOptions(init, 'stream', TEST_REQUEST);
  const run = init.validate === false ? app : validator(app);
  const controller = new AbortController();
  const errors: string[] = [];
  const environ = environOf(init, controller.signal, errors);
  return new Promise((resolve, reject) => {
    const channel: Channel = new Channel(
      controller,
      follow(init.signal, controller),
      // A copy: a test that changes what it got must not change the application's list.
      (status, statusText, sent) => {
        const headers: HeaderList = sent.map(([name, value]) => [name, value]);
        resolve({ status, statusText, headers, header: (name) => find(headers, name), errors, body: channel });
      },
      reject,
    );
    if (environ instanceof HttpError) return refuse(channel, environ, init.method);
    environ['ngi.input'] = closedAfter(environ['ngi.input'], channel);
    void runApp(run, environ, channel);
  });
}

/** The environ for `init`, or the HttpError a server answers itself, without calling the app (§3.3). */
function environOf(init: TestRequest, signal: AbortSignal, errors: string[]): Environ | HttpError {
  const { validate: _, ...fields } = init;
  try {
    return createEnviron({ ...fields, signal, errors: { write: (m) => void errors.push(m), flush() {} } });
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
}

/** Answers `error` as `runApp` answers an HttpError: its status, its message as plain text. */
function refuse(channel: Channel, error: HttpError, method: string | undefined): void {
  const { reason, headers } = plainHead(error.status, error.message);
  channel.head(error.status, reason, headers);
  channel.end(method?.toUpperCase() === 'HEAD' ? undefined : error.message); // §10.3: a HEAD response has no body
}

/** Aborts `controller` when `signal` aborts, at once if it already has; returns what stops that. */
function follow(signal: AbortSignal | undefined, controller: AbortController): () => void {
  if (signal === undefined) return () => {};
  // §4.6: the reason is an Error, whatever the caller aborted with (`abort('stop')`).
  const abort = () => controller.abort(signal.reason instanceof Error ? signal.reason : new Error(`The client disconnected: ${String(signal.reason)}`, { cause: signal.reason }));
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  return () => signal.removeEventListener('abort', abort);
}

function find(headers: HeaderList, name: string): string | undefined {
  const lower = name.toLowerCase();
  return headers.find(([key]) => key.toLowerCase() === lower)?.[1];
}

/**
 * `ngi.input` as a server gives it: an iteration begun once the response is complete throws, as
 * the server may have drained the body by then (§4.3).
 */
function closedAfter(input: AsyncIterable<Uint8Array>, channel: Channel): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      if (channel.complete) throw new TypeError('§4.3: ngi.input read after the response was over; read the body before answering');
      return input[Symbol.asyncIterator]();
    },
  };
}

/** A chunk on its way to the reader, and the `write` waiting for it to be taken. */
interface Queued {
  chunk: Uint8Array;
  taken?: () => void;
}

/** A channel between the sink `runApp` writes to and the reader of the body. */
class Channel implements ResponseSink, AsyncIterable<Uint8Array> {
  private queue: Queued[] = [];
  private done = false;
  /** The response ended, whole (`end`) or not (`destroy`). */
  complete = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly controller: AbortController,
    /** Stops the caller's signal from aborting the request (see `end`). */
    private readonly unfollow: () => void,
    private readonly onHead: (status: number, statusText: string, headers: HeaderList) => void,
    private readonly onFail: (error: unknown) => void,
  ) {}

  head(status: number, reason: string, headers: HeaderList): void {
    this.onHead(status, reason, headers);
  }
  write(chunk: Chunk): Promise<void> {
    // Writes may wait side by side (§7.1): each resolves once its own chunk is taken.
    return new Promise((taken) => {
      this.queue.push({ chunk: copy(chunk), taken });
      this.notify();
    });
  }
  end(last?: Chunk): void {
    // §12.2: the response is complete, so nothing may abort it now; and a signal reused for
    // many requests must not gather listeners.
    this.unfollow();
    if (last !== undefined) this.queue.push({ chunk: copy(last) });
    this.done = this.complete = true;
    this.notify();
  }
  destroy(error: unknown): void {
    this.error = error ?? new Error('response destroyed');
    // §4.6: a server that drops the connection aborts the signal (§10.1, §11.2), with an Error.
    this.controller.abort(this.error instanceof Error ? this.error : new Error(String(this.error)));
    this.unfollow();
    this.done = this.complete = true;
    this.onFail(abandoned(this.error));
    this.notify();
  }
  private notify(): void {
    this.wake?.();
    this.wake = undefined;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let finished = false;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) {
          yield next.chunk;
          next.taken?.();
          continue;
        }
        if (this.error !== undefined) throw abandoned(this.error);
        if (this.done) break;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
      finished = true;
    } finally {
      if (!finished && !this.done) this.controller.abort(new Error('The client went away'));
    }
  }
}

/** A copy: the app may reuse its buffer once the write resolves (a Buffer's `slice()` is a view). */
function copy(chunk: Chunk): Uint8Array {
  return typeof chunk === 'string' ? toBytes(chunk) : new Uint8Array(chunk);
}

/** The rejection of an abandoned response (§11.2, §12): names why, so a failing test shows the rule broken. */
function abandoned(error: unknown): Error {
  return new Error(`The response was abandoned: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
