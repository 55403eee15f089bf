import { HOP_BY_HOP, reportedInside, toBytes, type Chunk, type Environ, type HeaderList, type ResponseBody, type StartResponse } from '@ngi/core';
import { statusLine } from './_reasons.ts';
import { failedReported } from './_sink.ts';

type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Chunk>['read']>>;
type BodySource = { source: Chunk; length: number };
const LATER = Symbol('later');
// The runtime's `Response` keeps the string or bytes it was made from in its internal state;
// @hono/node-server reads it the same way to skip a stream that only repeats them.
const STATE = Object.getOwnPropertySymbols(new Response()).find((key) => key.description === 'state');
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Sends a fetch `Response` through `startResponse` (§6) and returns its body for the NGI server
 * to iterate. A body that is complete at once (a string, bytes) becomes one chunk with a
 * Content-Length, as `res.end(data)` does; one that is not yet readable sends its head at once
 * (§8.3), because a fetch handler commits its head by returning it (hono#244).
 */
export function sendResponse(response: Response, environ: Environ, startResponse: StartResponse): ResponseBody | Promise<ResponseBody> {
  if (!isResponse(response)) {
    throw new TypeError(`fromFetch: the handler must return a Response, got ${describeValue(response)}`);
  }
  const status = response.status;
  const line = statusLine(status, response.statusText);
  const headers = headerList(response.headers);
  const body = response.body as ReadableStream<Chunk> | null;
  if (status === 204 || status === 304) {
    // No body can be sent (§10.3): release the handler's stream now, or its source never learns.
    body?.cancel(new Error('The response has no body to send (§10.3)')).catch(ignore);
    // `new Response(null, { status: 204, headers })` keeps what it is given, fields §10.4 forbids.
    startResponse(line, headers.filter(([name]) => name !== 'content-type' && (name !== 'content-length' || status === 304)));
    return [];
  }
  if (body === null) {
    startResponse(line, headers);
    return [];
  }
  // HEAD goes on as GET, so it keeps the Content-Length a GET would get (§10.3, hono#220);
  // runApp discards its body and ends the stream through return() (oven-sh/bun PR #33661).
  const whole = sourceOf(response, body);
  if (whole !== undefined) {
    startResponse(line, withLength(headers, whole.length));
    return [whole.source];
  }
  if (body.locked) {
    throw new TypeError(`fromFetch: the handler returned a Response whose body is locked (${response.bodyUsed ? 'already read' : 'a reader holds it'}); return an unread Response`);
  }
  return readAhead(new FetchBody(body.getReader(), environ, body), line, headers, startResponse);
}

/**
 * Asks for two chunks at once and waits a few microtasks for the second: a body that holds its
 * data (a string, bytes) has answered both by then, the second with its end.
 */
function readAhead(body: FetchBody, line: string, headers: HeaderList, startResponse: StartResponse): Promise<ResponseBody> {
  const first = body.reader.read();
  const second = body.reader.read();
  let head: Read | undefined;
  // Reads settle in order, so this runs before the race below reports the second one.
  first.then((step) => void (head = step), ignore);
  return Promise.race([second, later()]).then((next) => {
    try {
      if (next !== LATER && next.done) {
        if (head!.done) {
          startResponse(line, withLength(headers, 0));
          return [];
        }
        const bytes = toBytes(head!.value);
        startResponse(line, withLength(headers, bytes.byteLength));
        return [bytes];
      }
      const write = startResponse(line, headers);
      // Nothing to send yet: the head goes out now, as a fetch server sends it (§8.3).
      if (head === undefined) void write('').catch(ignore);
      return body.pending(first, second);
    } catch (error) {
      // A head startResponse refuses (a header value `Headers` allows but §6.2 does not, such as
      // "\x7f") leaves NGI no body to close: release the handler's stream here, or it runs on.
      body.reader.cancel(error).catch(ignore);
      throw error;
    }
  }, (error: unknown) => {
    throw body.failure(error);
  });
}

/** The response body as NGI iterates it: one `read()` per step; `return()`/`close()` cancel the stream. */
class FetchBody implements AsyncIterableIterator<Chunk> {
  #reads: Promise<Read>[] = [];
  #finished = false;

  constructor(
    readonly reader: ReadableStreamDefaultReader<Chunk>,
    readonly environ: Environ,
    private readonly stream: ReadableStream,
  ) {}

  /** What a failed read throws on: marked as reported where `toFetch` made the stream and reported its error. */
  failure(error: unknown): unknown {
    return error instanceof Error && failedReported.has(this.stream) ? reportedInside(error) : error;
  }

  /** Reads `readAhead` issued, to be answered first. */
  pending(...reads: Promise<Read>[]): this {
    this.#reads = reads;
    return this;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Chunk>> {
    const read = this.#reads.shift() ?? this.reader.read();
    return read.then(
      (step) => {
        if (step.done) this.#finished = true;
        return step as IteratorResult<Chunk>;
      },
      (error: unknown) => {
        throw this.failure(error);
      },
    );
  }

  return(): Promise<IteratorResult<Chunk>> {
    this.close();
    return Promise.resolve(DONE);
  }

  /** Cancels a stream the server stopped reading early (client gone, error, Content-Length reached); called once or more. */
  close(): void {
    if (this.#finished) return;
    this.#finished = true;
    const signal = this.environ['ngi.signal'];
    const reason = signal.aborted ? signal.reason : new Error('The NGI server stopped reading the response body');
    this.reader.cancel(reason).catch(ignore);
  }
}

/**
 * What a native `Response` was made from (a string, bytes) and its length in bytes, when none
 * of its stream was read: sent as one chunk, because reading the stream costs more than the rest
 * of a small response. The stream is left unread, as @hono/node-server leaves it. Bytes are
 * copied: the stream holds the same array, and reading it (through a clone, or a reader taken
 * earlier) hands the array over, leaving it empty.
 */
function sourceOf(response: Response, stream: ReadableStream): BodySource | undefined {
  if (STATE === undefined) return undefined;
  const state = (response as unknown as Record<symbol, { body?: BodySource & { stream?: unknown } } | undefined>)[STATE]?.body;
  if (state?.stream !== stream || response.bodyUsed) return undefined;
  const { source, length } = state;
  if (typeof source === 'string' && typeof length === 'number') return { source, length };
  if (source instanceof Uint8Array && source.byteLength === length) return { source: source.slice(), length };
  return undefined;
}

/**
 * Response headers as NGI pairs. Hop-by-hop fields are framing a fetch runtime adds or ignores
 * (srvx#248). A `status` field, which §6.3 keeps out of NGI, is dropped too: a Response proxied
 * from an upstream may carry one, and it must not turn the whole response into a 500.
 */
function headerList(headers: Headers): HeaderList {
  const list: HeaderList = [];
  let cookies = false;
  for (const [name, value] of headers) {
    if (name === 'set-cookie') cookies = true;
    else if (!HOP_BY_HOP.has(name) && name !== 'status') list.push([name, value]);
  }
  // One field per cookie, never folded (srvx#144, hono PR #8).
  if (cookies) for (const cookie of headers.getSetCookie()) list.push(['set-cookie', cookie]);
  return list;
}

function withLength(headers: HeaderList, length: number): HeaderList {
  for (const [name] of headers) if (name === 'content-length') return headers;
  headers.push(['content-length', String(length)]);
  return headers;
}

/** Settles after a few microtask turns: long enough for a stream that already holds its data. */
function later(): Promise<typeof LATER> {
  let promise: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < 5; i++) promise = promise.then();
  return promise.then(() => LATER);
}

function isResponse(value: unknown): value is Response {
  if (typeof value !== 'object' || value === null) return false;
  const response = value as Response;
  return typeof response.status === 'number' && typeof response.headers?.get === 'function' && 'body' in response;
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return value.constructor?.name ?? 'object';
}

function ignore(): void {}

