import { describe } from './body.ts';
import { notAnApplication } from './errors.ts';
import type { Application, Middleware } from './types.ts';

/**
 * Combines middleware into one, the first listed outermost, as Rack::Builder's `use`
 * order reads: `compose(a, b)(app)` is `a(b(app))` (§13.1). `compose()` returns the app
 * unchanged. Throws a TypeError for an argument that is not a function, and, when applied,
 * for an app that is not a function or a middleware that returns none.
 */
export function compose(...middleware: Middleware[]): Middleware {
  middleware.forEach((m, i) => {
    // `compose([a, b])`, as a list where the middleware go one by one.
    const hint = Array.isArray(m) ? ' (pass the middleware one by one: compose(...list))' : '';
    if (typeof m !== 'function') throw new TypeError(`compose: argument ${i} is not a middleware function, got ${describe(m)}${hint}`);
  });
  const layers = [...middleware];
  return (app) => {
    const why = notAnApplication(app);
    if (why !== undefined) throw new TypeError(`compose: the app must be an application, ${why}`);
    // Caught here, a middleware that forgot its `return` is named; otherwise every request fails.
    return layers.reduceRight((inner: Application, wrap, i) => {
      const outer: unknown = wrap(inner);
      if (typeof outer !== 'function') {
        throw new TypeError(`compose: middleware ${i} returned ${describe(outer)}, not an application`);
      }
      return outer as Application;
    }, app);
  };
}
