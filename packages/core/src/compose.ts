import type { Middleware } from './types.ts';

/**
 * Combines middleware into one, the first listed outermost, as Rack::Builder's `use`
 * order reads: `compose(a, b)(app)` is `a(b(app))` (§13.1). `compose()` returns the app
 * unchanged. Throws a TypeError for an argument that is not a function.
 */
export function compose(...middleware: Middleware[]): Middleware {
  middleware.forEach((m, i) => {
    if (typeof m !== 'function') throw new TypeError(`compose: argument ${i} is not a middleware function`);
  });
  const layers = [...middleware];
  return (app) => layers.reduceRight((inner, wrap) => wrap(inner), app);
}
