import type { Application, Chunk, ResponseBody, StartResponse } from './types.ts';

/** Where an error thrown before the head goes instead of the server's 500: a host framework's error handling (Express's `next(err)`, Fastify's error handler). */
export interface ErrorRoute {
  /** The head has been handed to the host: an error now can only cut the response short (§11.2). */
  readonly headSent: boolean;
  /** Takes an error before the head (replacing the response, §6.4); rethrows it after. */
  fail(error: unknown, startResponse: StartResponse): void;
}

type Closable = { close?(): void | Promise<void> };
const EMPTY: ResponseBody = Object.freeze([]) as unknown as ResponseBody;

/**
 * `app` with every error before the head routed by `route`: thrown by the call, by its
 * promise, or by its body's first steps (see {@link guardBody}). What an adapter that hosts a
 * callable in a framework hands to `runApp`, so the framework's error handling gets the error.
 */
export function guardApp(app: Application, route: ErrorRoute): Application {
  // One closure per call: adapters make a guard per request.
  return (environ, startResponse) => {
    let result: ResponseBody | Promise<ResponseBody>;
    try {
      result = app(environ, startResponse);
    } catch (error) {
      return failed(error, route, startResponse);
    }
    if (result instanceof Promise) {
      return result.then(
        (body) => guardBody(body, route, startResponse),
        (error: unknown) => failed(error, route, startResponse),
      );
    }
    return guardBody(result, route, startResponse);
  };
}

function failed(error: unknown, route: ErrorRoute, startResponse: StartResponse): ResponseBody {
  route.fail(error, startResponse);
  return EMPTY;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Wraps a body whose iteration can throw (a generator, a stream) so that an error before the
 * head is routed by `route` instead of becoming the server's own 500; after the head it is
 * rethrown for the server to cut the response short. Arrays, and values the server will
 * reject anyway (§9.1), are returned unchanged.
 */
export function guardBody(body: ResponseBody, route: ErrorRoute, startResponse: StartResponse): ResponseBody {
  if (route.headSent || Array.isArray(body) || body === null || typeof body !== 'object' || body instanceof Uint8Array) {
    return body;
  }
  if (Symbol.iterator in body) return new SyncGuard(body as Iterable<Chunk> & Closable, route, startResponse);
  if (Symbol.asyncIterator in body) return new AsyncGuard(body, route, startResponse);
  return body;
}

class SyncGuard implements Iterable<Chunk>, Iterator<Chunk> {
  private iterator: Iterator<Chunk> | undefined;

  constructor(
    private readonly body: Iterable<Chunk> & Closable,
    private readonly route: ErrorRoute,
    private readonly startResponse: StartResponse,
  ) {}

  [Symbol.iterator](): Iterator<Chunk> {
    this.iterator = this.body[Symbol.iterator]();
    return this;
  }

  next(): IteratorResult<Chunk> {
    try {
      return this.iterator!.next();
    } catch (error) {
      this.route.fail(error, this.startResponse);
      return DONE;
    }
  }

  return(): IteratorResult<Chunk> {
    return this.iterator?.return?.() ?? DONE;
  }

  close(): void | Promise<void> {
    return this.body.close?.();
  }
}

class AsyncGuard implements AsyncIterable<Chunk>, AsyncIterator<Chunk> {
  private iterator: AsyncIterator<Chunk> | undefined;

  constructor(
    private readonly body: AsyncIterable<Chunk> & Closable,
    private readonly route: ErrorRoute,
    private readonly startResponse: StartResponse,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    this.iterator = this.body[Symbol.asyncIterator]();
    return this;
  }

  next(): Promise<IteratorResult<Chunk>> {
    return this.iterator!.next().then(undefined, (error: unknown) => {
      this.route.fail(error, this.startResponse);
      return DONE;
    });
  }

  return(): Promise<IteratorResult<Chunk>> {
    return Promise.resolve(this.iterator?.return?.() ?? DONE);
  }

  close(): void | Promise<void> {
    return this.body.close?.();
  }
}
