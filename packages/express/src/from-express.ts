import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions, type Application } from '@ngi/core';
import { baseUrlSymbol, environSymbol, fromNodeListener, prototypesOf, type NgiIncomingMessage } from '@ngi/node';
import type { Application as ExpressApplication } from 'express';
import { finalHandler } from './_final.ts';

/** An Express application, as `express()` returns it. */
export type ExpressApp = ExpressApplication;

/** Options of {@link fromExpress}. */
export interface FromExpressOptions {
  /**
   * Whether requests no route answered fall through: they get Express's 404 page marked
   * `x-cascade: pass`, so `cascade`, `mount` fallbacks and `toExpress` can try the next handler
   * (§14.1); an unhandled client error (a 4xx `status`, as body-parser's) gets its status, and
   * any other goes to the NGI server (a logged 500, or `next(err)` under `toExpress`). When
   * false, Express's own final handler answers both, exactly as when served natively.
   * @default true
   */
  fallthrough?: boolean | undefined;
}

type Handle = (req: IncomingMessage, res: ServerResponse, done?: (error?: unknown) => void) => void;

/**
 * An Express app as an NGI application. Express gets real `IncomingMessage` and
 * `ServerResponse` objects (`fromNodeListener`), sees the mount prefix as `req.baseUrl` and
 * the full target as `req.originalUrl`, exactly as a sub-app mounted with `app.use('/prefix',
 * sub)` does, and streams its response out as it writes it. Nothing global or shared is
 * patched: the same app can be served natively at the same time.
 *
 * `toNodeListener(fromExpress(app))` with nothing in between hands Node's own req and res to
 * the app, as serving it natively would: there is nothing to convert for.
 */
export function fromExpress(app: ExpressApp, options: FromExpressOptions = {}): Application {
  // A bare Router would run without Express's request and response prototypes (no res.send).
  if (typeof app !== 'function' || typeof (app as { set?: unknown }).set !== 'function') {
    // A Koa app or a Fastify instance has its own adapter.
    const named = app as { callback?: unknown; inject?: unknown } | null;
    if (typeof named?.inject === 'function') throw new TypeError('fromExpress: app must be an Express application; for a Fastify instance, fromFastify(app) from @ngi/fastify');
    if (typeof named?.callback === 'function') throw new TypeError('fromExpress: app must be an Express application; for a Koa app, fromKoa(app) from @ngi/koa');
    if (typeof (app as { fetch?: unknown } | null)?.fetch === 'function') throw new TypeError('fromExpress: app must be an Express application; for an object with fetch() (a Hono app), fromFetch(app) from @ngi/fetch');
    // A Router is a function with handle(), use() and stack but no set().
    if (typeof app === 'function' && typeof (app as { handle?: unknown }).handle === 'function') throw new TypeError('fromExpress: app must be an Express application; wrap a Router as express().use(router)');
    const got = app === null ? 'null' : typeof app === 'function' ? 'a plain function: for a (req, res) listener, fromNodeListener(listener) from @ngi/node' : typeof app;
    throw new TypeError(`fromExpress: app must be an Express application, got ${got}`);
  }
  checkOptions(options, 'fromExpress', { fallthrough: 'boolean' });
  const handle = app as unknown as Handle;
  // The base is set in the listener, not in a `prepare` hook: with a hook, the pass-through
  // would build an environ per request only to hand it over (Express needs none at the root).
  const listener =
    options.fallthrough === false
      ? (req: IncomingMessage, res: ServerResponse) => (setBase(req), handle(req, res))
      : (req: IncomingMessage, res: ServerResponse) =>
          // A rejection is how the listener reports an error to fromNodeListener (§11.1).
          new Promise<void>((_resolve, reject) => (setBase(req), handle(req, res, finalHandler(req, res, reject))));
  // Express re-parents every request and response to these; made with them, they keep one shape.
  const prototypes = prototypesOf(app);
  const made = prototypes === undefined ? {} : { prototypes };
  if (options.fallthrough === false) return fromNodeListener(listener, made);
  // Run on a host framework's own req and res (`direct`), a request no route answers goes on
  // to the host's next handler, as Express's `next` hands it on in a parent app.
  return fromNodeListener(listener, { ...made, passOn: (req, res, next) => (setBase(req), handle(req, res, next)) });
}

/**
 * What Express's router does when it enters a mounted sub-app (pillarjs/router `trimPrefix`):
 * `req.url` is already relative to the mount, so `req.baseUrl` is the prefix as the client
 * spelled it and `req.originalUrl` the whole target, for routing, logs and redirects. Node's
 * own request (the pass-through) has no prefix and is left as it is.
 */
function setBase(req: IncomingMessage): void {
  const ngi = req as Partial<NgiIncomingMessage>;
  const base = ngi[baseUrlSymbol];
  if (base === undefined || base === '') return;
  const express = req as IncomingMessage & { baseUrl: string; originalUrl: string };
  express.baseUrl = base;
  // At the mount point itself (PATH_INFO "") `req.url` is "/" but the client sent none: serve-static
  // tells `/docs` (redirect to `/docs/`) from `/docs/` (the index) by `originalUrl`, as the router leaves it.
  express.originalUrl = ngi[environSymbol]?.PATH_INFO === '' ? base + req.url!.slice(1) : base + req.url;
}
