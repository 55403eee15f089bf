import { HttpError, checkErrorStream, checkOptions, notAnApplication, runApp, type Application, type ErrorStream } from '@ngi/core';
import type { Middleware } from 'koa';
import { directListener } from '@ngi/node';
import { runDirect } from './_direct.ts';
import type { Settings } from './_environ.ts';
import { KoaExchange } from './_exchange.ts';
import { mountOf, redirectOf } from './_paths.ts';

/** Options of {@link toKoa}. */
export interface ToKoaOptions {
  /**
   * A `404` the callable answers with `x-cascade: pass` ("not mine", §14.1) is dropped and the
   * request goes on to `await next()`, unless the callable read the request body from the
   * request (a body a parser upstream had read, handed over, does not count).
   * @default true
   */
  cascade?: boolean | undefined;
  /**
   * Where `ngi.errors` writes.
   * @default the outer application's stream under `fromKoa`, else process.stderr
   */
  errors?: ErrorStream | undefined;
  /**
   * The most bytes of a request body the callable left unread (all of it, or the rest) that are
   * drained after its response, so the connection can be reused (§12.3); past it the
   * connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number | undefined;
  /**
   * `ngi.multiprocess`: whether other processes serve the same application.
   * @default the outer application's value under `fromKoa`, else false
   */
  multiprocess?: boolean | undefined;
  /**
   * For an application made by `fromNodeListener`, `fromExpress`, `fromKoa` or `fromFastify`:
   * run its listener on Koa's own `ctx.req` and `ctx.res`, as koa-connect does, instead of
   * converting the exchange. It spares the conversion, though an Express app runs faster
   * converted (on a `req` and `res` made with its own prototypes). The listener answers on `ctx.res` itself
   * (`ctx.respond = false`), so middleware upstream neither sees nor changes the response (no
   * koa-compress, no ETag); headers set before (`ctx.set`) are kept, but not the Content-Type and
   * Content-Length of a body set before (`ctx.body`), which is not sent. A request the listener
   * passes on (Express: no route matched; `fromKoa` with `cascade`: Koa's own 404) goes on to
   * `await next()`, unless it read the request body (then Koa answers 404; §14.1); without
   * `cascade`, the listener's own 404 answers. The exchange is converted as usual over HTTP/2,
   * and when a middleware upstream read the request body (a body parser: what it kept is handed
   * over) or left it paused.
   * @default false
   */
  direct?: boolean | undefined;
}

/**
 * Koa middleware that runs an NGI application. At the root, under koa-mount, or as the handler
 * of an @koa/router route ending in a wildcard (`router.all('/api{/*path}', toKoa(app))`; with
 * @koa/router 13 or before and koa-router 7, `'/api/:path*'` or `'/api/(.*)'`), the mount
 * prefix becomes `SCRIPT_NAME` and the rest `PATH_INFO`; a path Koa would route otherwise than
 * the application (not in normal form: `/x/../admin`, `/%61dmin`, `/admin%2Fx`) is redirected
 * to its normal form with a 308 (§14.2). The response is set with
 * `ctx.status`, `ctx.set` and `ctx.body` (a stream while the body is still being produced), so
 * upstream middleware sees and can change it; an error before the head is thrown into Koa.
 */
export function toKoa(app: Application, options: ToKoaOptions = {}): Middleware {
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`toKoa: expected an NGI application (a function), ${why}`);
  checkOptions(options, 'toKoa', { cascade: 'boolean', errors: null, drainLimit: null, multiprocess: 'boolean', direct: 'boolean' });
  const drainLimit = options.drainLimit ?? 1024 * 1024;
  if (!(drainLimit >= 0)) throw new TypeError(`toKoa: options.drainLimit must be a non-negative number, got ${String(drainLimit)}`);
  checkErrorStream(options.errors, 'toKoa');
  const cascade = options.cascade ?? true;
  const settings: Settings = { errors: options.errors, multiprocess: options.multiprocess, drainLimit };
  const listener = directListener(app, cascade);
  if (options.direct === true && listener === undefined) {
    throw new TypeError('toKoa: options.direct needs an application made by fromNodeListener, fromExpress, fromKoa or fromFastify');
  }
  const direct = options.direct === true ? listener : undefined;
  // A listener gets the raw path in `req.url` and routes on it as Koa does: a `%2F` is data
  // inside a segment to both, and is left as sent.
  const keepSlash = listener !== undefined;
  const middleware: Middleware = (ctx, next) => {
    let exchange;
    let environ;
    try {
      const mount = mountOf(ctx, middleware);
      const location = redirectOf(ctx, mount, keepSlash);
      if (location !== undefined) {
        // The method and body stay: Koa routes the request again, as the callable would see it.
        ctx.status = 308;
        ctx.redirect(location);
        return;
      }
      const done = direct === undefined ? undefined : runDirect(ctx, next, mount, direct, settings);
      if (done !== undefined) return done;
      exchange = new KoaExchange(ctx, cascade);
      environ = exchange.start(mount, settings);
    } catch (error) {
      // A path that is not valid percent-encoded UTF-8: Koa answers the 400 (§3.3).
      if (error instanceof HttpError) ctx.throw(error.status, error.message);
      throw error;
    }
    void runApp(app, environ, exchange);
    return exchange.respondWhenReady(next);
  };
  return middleware;
}
