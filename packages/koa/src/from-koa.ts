import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions, type Application } from '@ngi/core';
import { fromNodeListener, type NodeRequestListener } from '@ngi/node';

/** What `fromKoa` needs of a Koa application: its request listener. */
export interface KoaApplication {
  /** The app's request listener, as `http.createServer(koaApp.callback())` takes it. */
  callback(): NodeRequestListener;
}

/** Options of {@link fromKoa}. */
export interface FromKoaOptions {
  /**
   * Marks Koa's own 404 — no middleware set a status or a body — with `x-cascade: pass`
   * (§14.1), so a dispatcher (`cascade`, `mount`, `toKoa`, `toExpress`) tries what comes next
   * instead of sending it: what a Koa app mounted elsewhere cannot say today (koa#846). Under
   * `toKoa` with `direct`, that 404 is not sent at all and the request goes on to `await next()`.
   * @default false
   */
  cascade?: boolean | undefined;
}

/**
 * A Koa application as an NGI application, through `koaApp.callback()` on real Node request
 * and response objects (`fromNodeListener`): middleware added after this call is not seen,
 * as with `callback()`. Koa sees `ctx.url` relative to `SCRIPT_NAME`; the prefix is
 * `ctx.req[environSymbol]?.SCRIPT_NAME ?? ''` (served directly, Koa has Node's own request,
 * without an environ), and `toKoa` inside the app picks it up by itself.
 */
export function fromKoa(koaApp: KoaApplication, options: FromKoaOptions = {}): Application {
  if (typeof koaApp?.callback !== 'function') {
    // `fromKoa(app.callback())`: the listener itself, which fromNodeListener takes.
    const express = typeof koaApp === 'function' && typeof (koaApp as { set?: unknown; handle?: unknown }).set === 'function' && typeof (koaApp as { handle?: unknown }).handle === 'function';
    const hint = express
      ? '; for an Express app, fromExpress(app) from @ngi/express'
      : typeof koaApp === 'function'
        ? '; for a Node listener such as app.callback(), fromNodeListener(listener) from @ngi/node'
        : '';
    throw new TypeError(`fromKoa: expected a Koa application (an object with callback())${hint}`);
  }
  checkOptions(options, 'fromKoa', { cascade: 'boolean' });
  const listener = koaApp.callback();
  if (options.cascade !== true) return fromNodeListener(listener);
  return fromNodeListener(listener, { prepare: markUnhandled, passOn: passingOn(listener) });
}

/**
 * Where a host runs the app on its own req and res (`toKoa` with `direct`), Koa's own 404 is
 * not sent but passed on to the host's next handler: the `next` to call, by response.
 */
const passing = new WeakMap<ServerResponse, (error?: unknown) => void>();

/** The listener in Connect's form, for `directListener`; made once per app. */
function passingOn(listener: NodeRequestListener): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown {
  return (req, res, next) => {
    passing.set(res, next);
    return listener(req, res);
  };
}

/** The hook is on this response only, never a prototype, and gone after its first `end`. */
function markUnhandled(_req: unknown, res: ServerResponse): void {
  res.end = ending(res.end);
}

/** `end` marking Koa's own 404, or passing it on; made here, not assigned as a literal (see core's Exchange). */
function ending(end: ServerResponse['end']): ServerResponse['end'] {
  return function (this: ServerResponse, ...args: unknown[]) {
    // Back to the response's own `end`: Koa ends a response once, so only this call can be its 404.
    delete (this as Partial<ServerResponse>).end;
    if (this.end !== end) this.end = end;
    if (unhandled(this, args[0])) {
      const next = passing.get(this);
      passing.delete(this);
      if (next !== undefined) {
        next(); // nothing written: the host's next handler answers
        return this;
      }
      this.setHeader('x-cascade', 'pass');
    }
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
}

/**
 * Koa's own 404, sent when no middleware set a status or a body: Koa's respond() ends the
 * response with its status message as the body (nothing for HEAD). A status set on purpose
 * (`ctx.status = 404`, `ctx.throw(404)`) fills `res.statusMessage`; a middleware answering on
 * `ctx.res` itself (`ctx.respond = false`) writes its own head or body, without the
 * Content-Length Koa sets for its text. Over HTTP/2 Koa records no message and sends "404",
 * so there a deliberate bodiless 404 looks the same.
 */
function unhandled(res: ServerResponse, body: unknown): boolean {
  if (res.statusCode !== 404 || res.statusMessage || res.headersSent) return false;
  if (res.req.method === 'HEAD') return body === undefined;
  // respond() sets the Content-Length of its text; the same text written on `ctx.res` has none.
  return body === (res.req.httpVersionMajor >= 2 ? '404' : 'Not Found') && res.hasHeader('content-length');
}
