import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalPath, decodePath, isPlainPath, parseTarget, type Environ, type ErrorStream } from '@ngi/core';
import { nodeEnviron } from '@ngi/node';

/** The fields of an Express request the adapter reads, on top of `IncomingMessage`. */
export interface ExpressRequest extends IncomingMessage {
  /** The raw path prefix Express matched to reach this handler (`app.use('/legacy', …)`). */
  baseUrl?: string;
  /** The request target before any router trimmed it. */
  originalUrl?: string;
  /** What a body parser left. */
  body?: unknown;
}

/**
 * What the environ needs from the handler's options; left undefined, `nodeEnviron` takes the
 * NGI server's under `fromExpress`, else process.stderr and false.
 */
export interface EnvironSettings {
  errors: ErrorStream | undefined;
  multiprocess: boolean | undefined;
}

/**
 * The environ for a request Express routed to a mounted application (`nodeEnviron`, §2–§5):
 * the prefix Express matched (`req.baseUrl`) becomes `SCRIPT_NAME`, the rest `PATH_INFO`, and
 * `environ["express.request"]` is Express's `req` (§15.1). Throws an HttpError 400 for a path
 * that cannot be decoded (§3.3).
 */
export function environOf(req: ExpressRequest, res: ServerResponse, settings: EnvironSettings): Environ {
  const url = originForm(req.url ?? '/');
  const base = req.baseUrl ?? '';
  const original = originForm(req.originalUrl ?? url);
  if (base === '' && original === url) return withRequest(nodeEnviron(req, res, settings), req);
  const target = targetOf(original, base, url);
  // A prefix Express matched with a parameter may decode to a trailing `/` (`/files/a%2F`):
  // SCRIPT_NAME never ends with one (§3.2), so it goes to PATH_INFO.
  const scriptName = decodePath(base).replace(TRAILING_SLASHES, '');
  const environ = nodeEnviron(req, res, { ...settings, target, scriptName });
  // A rewritten req.url changes what the application routes on, not what was received (§4.7).
  if (target !== original) environ['ngi.raw_path'] = parseTarget(original).rawPath;
  return withRequest(environ, req);
}

/**
 * Where a request goes instead of to the application when its path under the mount point
 * (`req.url`) is not in normal form (`canonicalPath`): the prefix Express matched as the client
 * spelled it (`req.baseUrl`), the normal form and the query. Express routes on the path as
 * sent, the application on it decoded and normalized (§3.3, §14.2): served, `/%61dmin`,
 * `/admin%2Fx` or `/x/../admin` would reach the application past Express's routes and
 * middleware for `/admin` (CVE-2026-22031). Redirected, Express routes it again as the
 * application would see it. `keepSlash` for an application that routes on the raw path as
 * Express does. Throws an HttpError 400 for a path that cannot be decoded (§3.3).
 */
export function redirectOf(req: ExpressRequest, keepSlash: boolean): string | undefined {
  const url = req.url ?? '/';
  if (isPlainPath(url)) return undefined;
  const { rawPath, query } = parseTarget(url);
  const path = canonicalPath(rawPath, keepSlash);
  if (path === undefined) return undefined;
  const base = req.baseUrl ?? '';
  const original = originForm(req.originalUrl ?? url);
  if (targetOf(original, base, originForm(url)) === original) return base + path + (query === '' ? '' : `?${query}`);
  // A middleware rewrote req.url: the client is sent to its own path normalized, which the
  // rewrite then makes again; one already normal is served as the rewrite made it (no loop).
  const sent = parseTarget(original);
  const whole = canonicalPath(sent.rawPath, keepSlash);
  return whole === undefined ? undefined : whole + (sent.query === '' ? '' : `?${sent.query}`);
}

/**
 * An absolute-form target (`GET http://host/legacy/x`) as its origin form (`/legacy/x`): Express's
 * router keeps the scheme and host in `req.url` and `req.originalUrl`, and only the path counts (§3.3).
 */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 47 /* / */) return target;
  const { rawPath, query } = parseTarget(target);
  return query === '' ? rawPath : `${rawPath}?${query}`;
}

const TRAILING_SLASHES = /\/+$/;

function withRequest(environ: Environ, req: ExpressRequest): Environ {
  environ['express.request'] = req;
  return environ;
}

/**
 * The full target the application sees: the one received (`req.originalUrl`), so that at the
 * mount point itself `PATH_INFO` is `""` where Express added a `/` the client never sent
 * (§3.4); or, when a middleware rewrote `req.url`, the prefix and the rewritten rest, which is
 * what Express routes on.
 */
function targetOf(original: string, base: string, url: string): string {
  if (original.startsWith(base)) {
    const rest = original.slice(base.length);
    const next = rest.charCodeAt(0);
    if (rest === url || ('/' + rest === url && (rest === '' || next === 63 /* ? */ || next === 35) /* # */)) return original;
  }
  return base + url;
}
