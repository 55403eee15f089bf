import { checkHeaders, checkStatus } from './_headers.ts';
import { ReplayInput } from './_replay-input.ts';
import { describe } from './body.ts';
import { clientGone, copyEnviron } from './client-watch.ts';
import { checkOptions, describeError, notAnApplication, wronglyCalled } from './errors.ts';
import type { Application, Chunk, Environ, ResponseBody, StartResponse, Write } from './types.ts';

/** Options of {@link cascade}. */
export interface CascadeOptions {
  /**
   * Statuses that mean "not mine, try the next application" (Rack::Cascade).
   * @default [404, 405]
   */
  statuses?: readonly number[] | undefined;
  /**
   * Bytes of request body kept to replay to later applications, in at most 64 chunks and one
   * more per 256 bytes (each chunk costs memory of its own). Past it, a later application that
   * reads the body gets an `HttpError` 413 instead of a truncated body; the first application
   * always reads the whole body.
   * @default 1048576 (1 MiB)
   */
  limit?: number | undefined;
}

type AnyIterator = Iterator<Chunk> | AsyncIterator<Chunk>;

const discardWrite: Write = () => Promise.resolve();

/**
 * Tries `apps` in order and answers with the first response whose status is not in
 * `statuses`, or with the last app's response (Rack::Cascade; §14.1). The strangler-fig
 * migration: `cascade([newApp, legacyApp])`. Each app gets its own copy of environ (§13.2)
 * and the whole request body: what an earlier app read is replayed, then the rest streams.
 * A declined response's head is never sent and its body is closed without being iterated (§13.4).
 * Throws a TypeError for a list that is not a non-empty array of applications, or bad options.
 */
export function cascade(apps: readonly Application[], options: CascadeOptions = {}): Application {
  if (!Array.isArray(apps)) {
    throw new TypeError(`cascade: apps must be an array of applications, got ${describe(apps)}`);
  }
  if (apps.length === 0) throw new TypeError('cascade: needs at least one application');
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`cascade: options must be an object like { statuses: [404] }, got ${describe(options)}`);
  }
  checkOptions(options, 'cascade', { statuses: null, limit: null });
  const list = [...apps]; // a hole becomes undefined here, where forEach would skip it
  list.forEach((app, i) => {
    const why = notAnApplication(app);
    if (why !== undefined) throw new TypeError(`cascade: apps[${i}] is not an application: ${why}`);
  });
  const statuses = new Set(checkStatuses(options.statuses ?? [404, 405]));
  const limit = options.limit ?? 1024 * 1024;
  if (!(Number.isInteger(limit) || limit === Infinity) || limit < 0) {
    throw new TypeError(`cascade: options.limit must be a non-negative integer, got ${describe(limit)}`);
  }
  const last = list.length - 1;

  return async (environ, startResponse) => {
    if (typeof startResponse !== 'function' || typeof environ?.REQUEST_METHOD !== 'string') return wronglyCalled('cascade(apps)', environ, startResponse);
    const input = new ReplayInput(environ['ngi.input'], limit);
    for (let i = 0; i < last; i++) {
      const body = await attempt(list[i]!, withInput(environ, input.reader(true)), startResponse, statuses);
      if (body !== undefined) {
        input.commit();
        return body;
      }
      // §12.1: nobody is left to answer; the next application is not run for a client that left.
      if (clientGone(environ)) throw environ['ngi.signal'].reason;
    }
    // Nothing after the last app can replay the body, so its reader records nothing.
    return list[last]!(withInput(environ, input.reader(false)), startResponse);
  };
}

/** A copy of environ (§13.2) reading its body from `input`. */
function withInput(environ: Environ, input: Environ['ngi.input']): Environ {
  const copy = copyEnviron(environ);
  copy['ngi.input'] = input;
  return copy;
}

function checkStatuses(statuses: readonly number[]): readonly number[] {
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 200 && s <= 999)) {
    throw new TypeError(`cascade: options.statuses must be an array of status codes, got ${JSON.stringify(statuses)}`);
  }
  return statuses;
}

/**
 * Holds back the head until the status is known: a cascading status is checked and dropped,
 * any other goes to the real `startResponse`, and the app has won.
 */
class Gate {
  verdict: 'pending' | 'won' | 'declined' = 'pending';
  /** The app's response will be returned whatever it says (probed without a decision). */
  committed = false;
  /** The declined response has been discarded and the next app is running. */
  settled = false;

  constructor(
    private readonly real: StartResponse,
    private readonly statuses: Set<number>,
  ) {}

  readonly startResponse: StartResponse = (status, headers, ...error) => {
    if (this.verdict === 'won') return this.real(status, headers, ...error);
    if (this.settled) throw new Error('cascade: startResponse called after this response was discarded');
    if (this.verdict === 'declined' && error[0] === undefined) {
      throw new TypeError('§6.4: startResponse called twice without an error argument');
    }
    checkStatus(status);
    if (!this.committed && this.statuses.has(Number(status.slice(0, 3)))) {
      checkHeaders(headers); // towards the app the cascade is the server (§13.1), so it keeps §6.6
      this.verdict = 'declined';
      return discardWrite;
    }
    // A second call with an error may replace a declining status with a real answer (§6.4).
    this.verdict = 'won';
    return this.real(status, headers, ...error);
  };
}

/** Runs one app that is not the last; resolves to its body if it answered, `undefined` if it declined. */
async function attempt(
  app: Application,
  environ: Environ,
  startResponse: StartResponse,
  statuses: Set<number>,
): Promise<ResponseBody | undefined> {
  const gate = new Gate(startResponse, statuses);
  const body = await app(environ, gate.startResponse);
  let response = body;
  let iterator: AnyIterator | undefined;
  // §6.5: startResponse may come in the body's first step (an async generator app); take it now.
  if (gate.verdict === 'pending' && isBody(body)) ({ response, iterator } = await probe(body, environ, gate));
  if (gate.verdict === 'declined') {
    gate.settled = true;
    await discard(body, iterator, environ);
    return undefined;
  }
  gate.committed = true;
  return response;
}

/**
 * Advances `body` until the status is known or it yields a non-empty chunk (§6.5 lets empty
 * ones come first, §8.2), and returns a body that yields those steps' chunks, then the rest.
 */
async function probe(
  body: ResponseBody,
  environ: Environ,
  gate: Gate,
): Promise<{ response: ResponseBody; iterator: AnyIterator | undefined }> {
  const sync = Symbol.iterator in body;
  let iterator: AnyIterator | undefined;
  const steps: IteratorResult<Chunk>[] = [];
  try {
    iterator = sync ? (body as Iterable<Chunk>)[Symbol.iterator]() : (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
    let step: IteratorResult<Chunk>;
    for (;;) {
      step = await iterator.next();
      // Empty chunks go on to a winner as they came, up to a few: a server skips them anyway
      // (§8.2), and a body may yield them for as long as it likes.
      const empty = !step.done && (step.value === '' || isEmptyBytes(step.value));
      if (!empty || steps.length < HELD_EMPTY) steps.push(step);
      if (gate.verdict !== 'pending' || !empty) break;
      if (clientGone(environ)) throw environ['ngi.signal'].reason; // §12.1
    }
  } catch (error) {
    await discard(body, iterator, environ); // the server never sees this body, so end and close it here (§9.4)
    throw error;
  }
  return { response: resume(body, iterator, steps, sync), iterator };
}

/** The most empty chunks held while a body has not yet said its status. */
const HELD_EMPTY = 64;

function isEmptyBytes(chunk: unknown): boolean {
  return chunk instanceof Uint8Array && chunk.byteLength === 0;
}

function resume(body: ResponseBody, iterator: AnyIterator, held: IteratorResult<Chunk>[], sync: boolean): ResponseBody {
  const take = (): IteratorResult<Chunk> | undefined => held.shift();
  // The probe started the iterator; a server that closes the body without iterating it
  // (§9.4, §10.3) cannot end it, so close() does (§9.5), then closes the body (§13.4).
  let handedOut = false;
  const close = async (): Promise<void> => {
    try {
      if (!handedOut) {
        handedOut = true;
        await iterator.return?.();
      }
    } finally {
      await body.close?.();
    }
  };
  if (sync) {
    const inner = iterator as Iterator<Chunk>;
    const it: Iterator<Chunk> = {
      next: () => take() ?? inner.next(),
      return: (value?: unknown) => ((held.length = 0), inner.return?.(value) ?? { done: true, value }),
    };
    return { [Symbol.iterator]: () => ((handedOut = true), it), close };
  }
  const inner = iterator as AsyncIterator<Chunk>;
  const it: AsyncIterator<Chunk> = {
    next: async () => take() ?? inner.next(),
    return: async (value?: unknown) => ((held.length = 0), (await inner.return?.(value)) ?? { done: true, value }),
  };
  return { [Symbol.asyncIterator]: () => ((handedOut = true), it), close };
}

/** Ends a declined response: its iterator if it was started, then `close()`, once (§9.4, §13.4). */
async function discard(body: unknown, iterator: AnyIterator | undefined, environ: Environ): Promise<void> {
  try {
    await iterator?.return?.();
  } catch (error) {
    log(environ, '§9.5: iterator return() of a declined response failed', error);
  }
  const close = (body as { close?: unknown } | null | undefined)?.close;
  if (typeof close !== 'function') return;
  try {
    await close.call(body);
  } catch (error) {
    log(environ, '§9.4: body close() of a declined response failed', error);
  }
}

function isBody(value: unknown): value is ResponseBody {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false;
  return Symbol.iterator in value || Symbol.asyncIterator in value;
}

function log(environ: Environ, message: string, error: unknown): void {
  try {
    environ['ngi.errors'].write(`${message}: ${describeError(error)}\n`);
  } catch {
    // The error stream itself failed; nothing more can be reported.
  }
}
