/**
 * A WHATWG fetch handler, as Hono (`app.fetch`), h3 v2, itty-router, Remix and Next route
 * handlers export it. Further arguments are runtime-specific (Hono's `env` and execution context).
 */
export type FetchHandler = (request: Request, ...rest: any[]) => Response | Promise<Response>;

/** An object with a `fetch` method, such as a Hono app or a Workers-style `{ fetch }` export. */
export interface FetchApp {
  fetch: FetchHandler;
}

/**
 * The third argument `fromFetch` passes to a handler, shaped like the Workers
 * `ExecutionContext` Hono exposes as `c.executionCtx`.
 */
export interface FetchExecutionContext {
  /** Lets work finish after the response; a rejection is logged to `ngi.errors`. */
  waitUntil(promise: Promise<unknown>): void;
  /** Workers' fall-back-to-origin switch: there is no origin behind an NGI application, so it does nothing. */
  passThroughOnException(): void;
}
