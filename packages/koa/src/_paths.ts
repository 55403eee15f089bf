import { canonicalPath, decodePath, isPlainPath, parseTarget, splitRawPath } from '@ngi/core';
import { baseUrlSymbol, type NgiIncomingMessage } from '@ngi/node';
import type { Context, Middleware } from 'koa';

/** Where the callable sits in the request, counted from the server's root, for `nodeEnviron`. */
export interface Mount {
  /** The request target the callable routes on. */
  target: string;
  /** The decoded mount prefix; undefined where the request came in (the outer `SCRIPT_NAME` under `fromKoa`, else ""). */
  scriptName: string | undefined;
  /** The raw path as received, when `target` is a rewritten URL and nothing outside keeps it (§4.7). */
  rawPath: string | undefined;
}

/** What @koa/router leaves on the context of the route it runs. */
interface RouterContext {
  routerPath?: unknown;
  /** Every layer whose path matches, whatever its method; `router.use()` layers have `end: false`. */
  matched?: { path: unknown; stack: unknown[]; opts?: { end?: boolean } }[];
  params?: Record<string, string | undefined>;
}

// A trailing wildcard of path-to-regexp 8 (@koa/router 14 and later): `/api{/*rest}`,
// `/api/*rest`, `{/*"rest"}`; or of path-to-regexp 6 and 1 (@koa/router 13 and before,
// koa-router 7, with Koa 2): `/api/:rest*`, `/api/:rest+`, `/api/:rest(.*)`.
const WILDCARD = /\*(?:"([^"]+)"|([A-Za-z_$][\w$]*))\}?$|:(\w+)(?:[*+]|\(\.\*\))$/;
/**
 * The unnamed groups of path-to-regexp 6 and 1, numbered in order: a `(` that is not escaped,
 * not a parameter's own pattern (`:id(\\d+)`) and not a non-capturing group (`(?:`), and
 * path-to-regexp 1's bare `/*`.
 */
const UNNAMED_GROUP = /(?<!:\w+|\\)\((?!\?)|\/\*/g;

/**
 * Where the callable `self` sits in a Koa request, or undefined where Koa mounted nothing
 * (`nodeEnviron`'s defaults). The mount prefix is what koa-mount removed from the path
 * (`ctx.originalUrl` against `ctx.path`), plus, when `self` is the handler of an @koa/router
 * route ending in a wildcard, the part of the path before it. Koa's URLs are relative to the
 * mount point `fromKoa` was given, so its raw prefix (`req[baseUrlSymbol]`) goes first. Throws
 * an `HttpError` 400 for a path that is not valid percent-encoded UTF-8 (§3.3).
 */
export function mountOf(ctx: Context, self: Middleware): Mount | undefined {
  const rest = routeRest(ctx, self);
  // `ctx.req.url` is what `ctx.url` reads, through two getters; koa-mount rewrites it there.
  const rewritten = ctx.req.url !== ctx.originalUrl;
  if (rest === undefined && !rewritten) return undefined;
  const base = (ctx.req as Partial<NgiIncomingMessage>)[baseUrlSymbol];
  let target = (base ?? '') + ctx.originalUrl;
  let script: string | undefined;
  let rawPath: string | undefined;
  if (rewritten) {
    // koa-mount (or another rewrite) changed the URL after Koa saw it.
    const raw = parseTarget(target).rawPath;
    script = mountPrefix(raw, ctx.path, target.includes('#'));
    if (script === undefined) {
      // Any other rewrite: the callable sees the rewritten path, unmounted.
      target = (base ?? '') + (ctx.url.startsWith('/') ? ctx.url : '/' + ctx.url);
      if (base === undefined) rawPath = raw;
    } else {
      // The path as received, with the query as Koa has it now: a middleware may have rewritten it.
      target = raw + ctx.request.search;
    }
  }
  if (rest !== undefined) {
    const path = parseTarget(target).path;
    // The wildcard's value has no leading "/" (`/api/:rest*`), or starts with it (`/api(.*)`);
    // path-to-regexp 6 and 1 leave a trailing "/" out of it.
    const info = rest === '' ? (path.endsWith('/') ? '/' : '') : rest.startsWith('/') ? rest : '/' + rest;
    const tail = path.endsWith(info) ? info : path.endsWith(info + '/') ? info + '/' : undefined;
    if (tail !== undefined) script = path.slice(0, path.length - tail.length);
  }
  // §3.2: SCRIPT_NAME never ends with "/"; the slash stays in PATH_INFO.
  while (script?.endsWith('/')) script = script.slice(0, -1);
  return { target, scriptName: script, rawPath };
}

/**
 * Where a request goes instead of to the callable when its path under the mount point is not
 * in normal form (`canonicalPath`): the mount prefix as the client spelled it, the normal form
 * and the query. Koa, koa-mount and @koa/router route on the path as sent, the callable on it
 * decoded and normalized (§3.3, §14.2): served, `/%61dmin`, `/admin%2Fx` or `/x/../admin`
 * would reach the callable past the middleware and routes Koa has for `/admin`
 * (CVE-2026-22031). Redirected, Koa routes it again as the callable would see it. `keepSlash`
 * for a callable that routes on the raw path as Koa does. Throws an `HttpError` 400 for a path
 * that cannot be decoded (§3.3).
 */
export function redirectOf(ctx: Context, mount: Mount | undefined, keepSlash: boolean): string | undefined {
  // Unmounted, the path is `ctx.originalUrl`, after the raw prefix of a Koa app under fromKoa.
  if (isPlainPath(mount?.target ?? ctx.originalUrl)) return undefined;
  const base = (ctx.req as Partial<NgiIncomingMessage>)[baseUrlSymbol] ?? '';
  const { rawPath, path, query } = parseTarget(mount?.target ?? base + ctx.originalUrl);
  const script = mount?.scriptName;
  if (script === undefined && mount !== undefined) {
    // A middleware rewrote the URL (not koa-mount): the client is sent to its own path
    // normalized, which the rewrite then makes again; one already normal is served as the
    // rewrite made it (no loop).
    const sent = parseTarget(base + ctx.originalUrl);
    const whole = canonicalPath(sent.rawPath.slice(base.length), keepSlash);
    return whole === undefined ? undefined : base + whole + (sent.query === '' ? '' : `?${sent.query}`);
  }
  // Where the callable's path starts in the raw one.
  const split = script === undefined ? base.length : Math.max(splitRawPath(rawPath, script, path.slice(script.length)), 0);
  const rest = canonicalPath(rawPath.slice(split), keepSlash);
  if (rest === undefined) return undefined;
  return rawPath.slice(0, split) + rest + (query === '' ? '' : `?${query}`);
}

/**
 * The decoded prefix koa-mount removed: the raw part before `inner` (`ctx.path`) in the path
 * received, or undefined when `inner` is not its end (another rewrite).
 */
function mountPrefix(raw: string, inner: string, fragment: boolean): string | undefined {
  // koa-mount with a trailing-slash prefix leaves a path without its leading "/".
  if (!inner.startsWith('/')) inner = '/' + inner;
  if (raw.endsWith(inner)) return decodePath(raw.slice(0, raw.length - inner.length));
  if (fragment) {
    // With a `#` in the target, Koa parses it with url.parse, which escapes some characters
    // (`{` as `%7B`) in `ctx.path`: the two are compared decoded.
    const path = decodePath(raw);
    const rest = decodePath(inner);
    if (path.endsWith(rest)) return path.slice(0, path.length - rest.length);
  }
  // koa-mount turns the bare prefix (`/mnt`) into `/`.
  return inner === '/' ? decodePath(raw) : undefined;
}

/**
 * The decoded value of the trailing wildcard of the @koa/router route `self` is a handler of,
 * `''` when it matched nothing, or undefined when `self` is not run by such a route. The
 * route must be checked: `ctx.routerPath` stays set when a route's middleware calls `next()`.
 */
function routeRest(ctx: Context, self: Middleware): string | undefined {
  const router = ctx as unknown as RouterContext;
  // No router ran: the usual path, decided without making the lists below.
  if (router.matched === undefined) return undefined;
  // A router before @koa/router 9 (koa-router 7) sets no routerPath: the route is the one
  // matched layer `self` is a handler of.
  const pattern = router.routerPath ?? onlyLayerOf(router, self);
  if (typeof pattern !== 'string') return undefined;
  const key = wildcardKey(pattern);
  if (key === undefined) return undefined;
  if (!routesOf(router, self).some((layer) => layer.path === pattern)) return undefined;
  return router.params?.[key] ?? '';
}

/** The matched routes (not `router.use()` middleware, which mounts nothing) that have `self` among their handlers. */
function routesOf(router: RouterContext, self: Middleware): NonNullable<RouterContext['matched']> {
  return router.matched?.filter((layer) => layer.opts?.end !== false && layer.stack.includes(self)) ?? [];
}

/** The path of the matched routes with `self` among their handlers (one per method, say); undefined if none, or several paths. */
function onlyLayerOf(router: RouterContext, self: Middleware): unknown {
  const paths = new Set(routesOf(router, self).map((layer) => layer.path));
  return paths.size === 1 ? [...paths][0] : undefined;
}

/** The parameter a route's trailing wildcard fills, or undefined when the route ends in none. */
function wildcardKey(pattern: string): string | undefined {
  const named = WILDCARD.exec(pattern);
  if (named !== null) return named[1] ?? named[2] ?? named[3]!;
  // `/api/(.*)`, or path-to-regexp 1's `/api/*`: the parameter is its number among the unnamed groups.
  if (!pattern.endsWith('(.*)') && !pattern.endsWith('/*')) return undefined;
  const groups = pattern.match(UNNAMED_GROUP)?.length ?? 0;
  return groups > 0 ? String(groups - 1) : undefined;
}
