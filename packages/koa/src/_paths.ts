import { decodePath, parseTarget, type Environ } from '@ngi/core';
import type { Context, Middleware } from 'koa';

/** Where a request sits relative to the callable: the CGI path keys and the raw path (§3.2–§3.5, §4.7). */
export interface Paths {
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  rawPath: string;
}

/** What @koa/router leaves on the context of the route it runs. */
interface RouterContext {
  routerPath?: unknown;
  matched?: { path: unknown; stack: unknown[] }[];
  params?: Record<string, string | undefined>;
}

// A trailing path-to-regexp 8 wildcard: `/api{/*rest}`, `/api/*rest`, `{/*"rest"}`.
const WILDCARD = /\*(?:"([^"]+)"|([A-Za-z_$][\w$]*))\}?$/;

/**
 * The paths of a Koa request as the callable `self` sees them. The mount prefix is what
 * koa-mount removed from the path (`ctx.originalUrl` against `ctx.path`), plus, when `self`
 * is the handler of an @koa/router route ending in a wildcard, the part of the path before
 * it; under `fromKoa`, the outer application's `SCRIPT_NAME` comes first. Throws an
 * `HttpError` 400 for a path that is not valid percent-encoded UTF-8 (§3.3).
 */
export function pathsOf(ctx: Context, self: Middleware, outer: Environ | undefined): Paths {
  const target = parseTarget(ctx.originalUrl);
  const rawPath = outer === undefined ? target.rawPath : outer['ngi.raw_path'];
  let script = outer === undefined ? '' : outer.SCRIPT_NAME;
  let path = target.path;
  let query = target.query;
  if (ctx.url !== ctx.originalUrl) {
    // koa-mount (or another rewrite) changed the URL after Koa saw it.
    [script, path] = splitMount(script, target.rawPath, ctx.path);
    query = ctx.querystring;
  }
  const rest = routeRest(ctx, self);
  if (rest !== undefined) {
    const info = rest !== '' ? '/' + rest : path.endsWith('/') ? '/' : '';
    if (path.endsWith(info)) {
      script += path.slice(0, path.length - info.length);
      path = info;
    }
  }
  return normalize(script, path, query, rawPath);
}

/** `[SCRIPT_NAME, PATH_INFO]` once the raw prefix that turns `inner` into `original` joins `script`. */
function splitMount(script: string, original: string, inner: string): [string, string] {
  // koa-mount with a trailing-slash prefix leaves a path without its leading "/".
  if (!inner.startsWith('/')) inner = '/' + inner;
  if (original.endsWith(inner)) return [script + decodePath(original.slice(0, original.length - inner.length)), decodePath(inner)];
  // koa-mount turns the bare prefix (`/mnt`) into `/`.
  if (inner === '/') return [script + decodePath(original), ''];
  // Any other rewrite: the callable sees the rewritten path, unmounted.
  return [script, decodePath(inner)];
}

/**
 * The decoded value of the trailing wildcard of the @koa/router route `self` is a handler of,
 * `''` when it matched nothing, or undefined when `self` is not run by such a route. The
 * route must be checked: `ctx.routerPath` stays set when a route's middleware calls `next()`.
 */
function routeRest(ctx: Context, self: Middleware): string | undefined {
  const router = ctx as unknown as RouterContext;
  const pattern = router.routerPath;
  if (typeof pattern !== 'string') return undefined;
  const wildcard = WILDCARD.exec(pattern);
  if (wildcard === null) return undefined;
  if (!router.matched?.some((layer) => layer.path === pattern && layer.stack.includes(self))) return undefined;
  return router.params?.[wildcard[1] ?? wildcard[2]!] ?? '';
}

/** Keeps §3.2 and §3.4: SCRIPT_NAME never ends with "/", and the pair is never empty. */
function normalize(script: string, path: string, query: string, rawPath: string): Paths {
  while (script.endsWith('/')) {
    script = script.slice(0, -1);
    path = '/' + path;
  }
  if (script === '' && path === '') path = '/';
  return { SCRIPT_NAME: script, PATH_INFO: path, QUERY_STRING: query, rawPath };
}
