import type { Application, HeaderList, Middleware, ResponseBody } from '@ngi/core';

/**
 * Middleware is any `(app) => app` function (§13.1). This one adds a `server-timing` header
 * with the time the application took to start its response, and keeps every obligation a
 * middleware has: it passes the `error` argument on (§13.5), yields each inner chunk as
 * soon as it gets it (§13.3) and forwards `close()` (§13.4).
 */
export const withTiming: Middleware = (app: Application): Application => (environ, startResponse) => {
  const started = performance.now();
  const timed = (status: string, headers: HeaderList, error?: unknown) => {
    const took = (performance.now() - started).toFixed(1);
    return startResponse(status, [...headers, ['server-timing', `app;dur=${took}`]], error);
  };
  const result = app(environ, timed);
  return result instanceof Promise ? result.then(passThrough) : passThrough(result);
};

/** A body that yields what the inner body yields, chunk for chunk, and closes it once. */
function passThrough(inner: ResponseBody): ResponseBody {
  return Object.assign(
    (async function* () {
      yield* inner as AsyncIterable<Uint8Array | string>;
    })(),
    { close: () => inner.close?.() },
  );
}
