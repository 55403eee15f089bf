import { describe } from './body.ts';
import { copyEnviron } from './client-watch.ts';
import { encodePath, normalizePath, rawPrefixEnd } from './environ.ts';
import { checkOptions, notAnApplication, wronglyCalled } from './errors.ts';
import type { Application, Environ, HeaderList, StartResponse } from './types.ts';

/** Options of {@link mount}. */
export interface MountOptions {
  /**
   * Answers requests no entry matches, with the caller's environ unchanged
   * (werkzeug `DispatcherMiddleware`'s app).
   * @default a `404 Not Found` with `x-cascade: pass` (§14.1)
   */
  fallback?: Application | undefined;
  /**
   * Prefix a root-relative `Location` (`/login`, not `//host` or `login`) that a mounted
   * app answers with by the `SCRIPT_NAME` it saw, so its redirects stay inside the mount
   * (express#2348). A `Location` already under that `SCRIPT_NAME` is left as it is.
   * @default false
   */
  rewriteRedirects?: boolean | undefined;
  /**
   * Match path prefixes with their letter case, as URL paths are compared (RFC 3986 §6.2.2.1).
   * Set it to `false` in front of an application that routes ignoring case (Express and
   * @koa/router by default): with a guard at `/admin`, `/ADMIN/x` would reach its `/admin/x`.
   * `SCRIPT_NAME` then keeps the request's spelling of the prefix.
   * @default true
   */
  caseSensitive?: boolean | undefined;
}

interface Entry {
  /** Lower-case host name; `undefined` for a path-only entry. */
  host: string | undefined;
  /** Port the entry requires; `undefined` matches any port. */
  port: string | undefined;
  /** Decoded, normalized path without its trailing `/`; `""` is the root entry. */
  prefix: string;
  /** `prefix + "/"`, precomputed for the segment-boundary test. */
  under: string;
  /** The prefix in lower case, when letter case is ignored. */
  lower?: string | undefined;
  app: Application;
}

/**
 * Extension key (§15.1) through which a redirect-rewriting mount tells mounts inside it
 * which part of `SCRIPT_NAME` it will add itself, so nested mounts never prefix twice.
 */
const REDIRECT_BASE = 'mount.redirect_base';
const HOST_KEY = /^https?:\/\/([^/?#]*)(.*)$/i;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/**
 * Dispatches to the application mounted at the longest matching prefix, as Rack::URLMap
 * does (§14.2). Keys are `/path` or `http(s)://host[:port]/path`; a key's path is decoded as
 * `PATH_INFO` is (`/caf%C3%A9` is `/café`, `%25` a literal `%`). Host entries are tried first,
 * then path-only ones, longest path first. Hosts compare with `HTTP_HOST` (else `SERVER_NAME`)
 * in one spelling (`parseHost`: any letter case, an internationalized name in its ASCII
 * form, addresses in their canonical form, no trailing dot), and a key's port, if it has one,
 * with the request's. Paths match the decoded, dot-segment-free `PATH_INFO` on segment
 * boundaries (`/api` takes `/api` and `/api/x`, never `/apix`), and the app runs on a copy of
 * environ with the prefix moved to `SCRIPT_NAME` (§13.2); a root entry that leaves `PATH_INFO`
 * as it was gets the environ itself.
 * Throws a TypeError for a map that is not a plain object, or a malformed or duplicate key.
 */
export function mount(map: Record<string, Application>, options: MountOptions = {}): Application {
  // A Map, an array or an app has no own string keys to read: it would mount nothing, silently.
  if (!isPlainObject(map)) {
    throw new TypeError(`mount: the map must be a plain object like { '/api': app }, got ${describe(map)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`mount: options must be an object like { fallback: app }, got ${describe(options)}`);
  }
  checkOptions(options, 'mount', { fallback: null, rewriteRedirects: 'boolean', caseSensitive: 'boolean' });
  const caseSensitive = options.caseSensitive ?? true;
  const table = buildTable(map, caseSensitive);
  const hasHosts = table.some((entry) => entry.host !== undefined);
  const fallback = options.fallback ?? notFound;
  const why = notAnApplication(fallback);
  if (why !== undefined) throw new TypeError(`mount: options.fallback must be an application, ${why}`);
  const rewrite = options.rewriteRedirects === true;

  return (environ, startResponse) => {
    if (typeof startResponse !== 'function' || typeof environ?.REQUEST_METHOD !== 'string') return wronglyCalled('mount(table)', environ, startResponse);
    const path = normalizePath(environ.PATH_INFO);
    const authority = hasHosts ? requestAuthority(environ) : undefined;
    for (const entry of table) {
      if (entry.host !== undefined && !hostMatches(entry, authority!)) continue;
      const length = matchLength(entry, path);
      if (length < 0) continue;
      const rest = path.slice(length);
      // A root entry that moves nothing gets the environ itself, as the fallback does: §13.2 asks
      // for a copy only where something changes, and a copy costs more than the rest of mount.
      if (entry.prefix === '' && rest === environ.PATH_INFO && !rewrite) return entry.app(environ, startResponse);
      const shifted = copyEnviron(environ);
      shifted.SCRIPT_NAME = environ.SCRIPT_NAME + path.slice(0, length);
      shifted.PATH_INFO = rest;
      return entry.app(shifted, rewrite ? redirectRewriter(shifted, startResponse) : startResponse);
    }
    return fallback(environ, startResponse);
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * How much of `path` the entry's prefix takes, ending on a segment boundary (§14.2); -1 if it
 * does not match. Ignoring case, only the part as long as the prefix is lower-cased: a character
 * further on whose lower case is longer (`İ`) cannot shift the comparison.
 */
function matchLength(entry: Entry, path: string): number {
  const prefix = entry.prefix;
  if (prefix === '' || path === prefix || path.startsWith(entry.under)) return prefix.length;
  const lower = entry.lower;
  if (lower === undefined) return -1;
  const n = lower.length;
  return (path.length === n || path.charCodeAt(n) === 47) && path.slice(0, n).toLowerCase() === lower ? n : -1;
}

function notFound(_environ: Environ, startResponse: StartResponse): Iterable<string> {
  startResponse('404 Not Found', [
    ['content-type', 'text/plain'],
    ['x-cascade', 'pass'],
  ]);
  return ['Not Found'];
}

/** Parses and sorts the keys once, so a request costs a few string compares per entry. */
function buildTable(map: Record<string, Application>, caseSensitive: boolean): Entry[] {
  const seen = new Set<string>();
  const table: Entry[] = [];
  for (const [key, app] of Object.entries(map)) {
    const entry = parseKey(key, app);
    if (!caseSensitive) entry.lower = entry.prefix.toLowerCase();
    const id = `${entry.host ?? ''}:${entry.port ?? ''}${entry.lower ?? entry.prefix}`;
    if (seen.has(id)) throw new TypeError(`mount: ${JSON.stringify(key)} repeats the location of another key`);
    seen.add(id);
    table.push(entry);
  }
  // urlmap.rb: host entries first (a port makes one more specific), then the longest location.
  const rank = (e: Entry): number => (e.host === undefined ? 0 : e.port === undefined ? 1 : 2);
  return table.sort((a, b) => rank(b) - rank(a) || b.prefix.length - a.prefix.length);
}

function parseKey(key: string, app: Application): Entry {
  const bad = (why: string): TypeError =>
    new TypeError(`mount: bad key ${JSON.stringify(key)}: ${why} (use "/path" or "http(s)://host[:port]/path")`);
  let host: string | undefined;
  let port: string | undefined;
  let path = key;
  const match = HOST_KEY.exec(key);
  if (match) {
    const authority = splitHostPort(match[1]!);
    host = parseHost(authority.name);
    port = authority.port === undefined ? undefined : canonicalPort(authority.port);
    if (host === undefined || (authority.port !== undefined && port === undefined)) throw bad('the host is malformed');
    path = match[2] || '/';
  }
  if (!path.startsWith('/')) throw bad('a path must start with "/"');
  // Taken literally, `/api/*`, `/users/:id` or `/a?b` would never match what is meant (write `%2A`, `%3A`, `%3F` for the character).
  if (/[*?#]|\/:/.test(path)) throw bad('a key is a plain path prefix ("/api" covers "/api/…"), without wildcards, parameters or a query');
  // A key copied from a URL (`/caf%C3%A9`) would never equal the decoded PATH_INFO (§3.3).
  try {
    path = decodeURIComponent(path);
  } catch {
    throw bad('a "%" must start a percent-escape (write "%25" for "%")');
  }
  if (DOT_SEGMENT.test(path)) throw bad('"." and ".." segments never match a normalized path');
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`mount: the value of ${JSON.stringify(key)} is not an application: ${why}`);
  const prefix = normalizePath(path).replace(/\/+$/, '');
  return { host, port, prefix, under: prefix + '/', app };
}

/** A lower-case DNS name whose last label is not a number, or a dotted-quad IPv4 address: already canonical. */
const CANONICAL_HOST = /^(?:(?:[a-z0-9-]+\.)*(?!\d+$|0x[0-9a-f]*$)[a-z0-9-]+|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))$/;

/** What no host holds, where a URL parser would quietly cut the rest off (`x@host`, `host#x`) or refuse it. */
const NOT_IN_HOST = /[\s@/\\?#\x00-\x1f\x7f]/;

/**
 * A request's host name in the one spelling keys are kept in; `undefined` for one that is not a
 * host, which no host entry matches. The usual lower-case name is already in it.
 */
function canonicalHost(name: string): string | undefined {
  return CANONICAL_HOST.test(name) ? name : parseHost(name);
}

/**
 * A host in its canonical spelling, WHATWG URL's host parser's (as a browser would send it):
 * lower case, an internationalized name in its ASCII form (`bücher.example` is
 * `xn--bcher-kva.example`), percent-escapes decoded, IPv4 and IPv6 addresses in their canonical
 * form (`[0:0::1]` is `[::1]`), and without the trailing dot of a fully qualified name
 * (`example.com.` is `example.com`, RFC 1034 §3.1). A host spelled another way must not get past
 * its entry. `undefined` for what is not a host, including a colon outside an IP literal.
 */
function parseHost(name: string): string | undefined {
  if (name === '' || NOT_IN_HOST.test(name) || (name.charCodeAt(0) !== 91 /* [ */ && name.includes(':'))) return undefined;
  let host: string;
  try {
    host = new URL(`http://${name}/`).hostname;
  } catch {
    return undefined;
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host === '' || host.endsWith('.') ? undefined : host;
}

interface Authority {
  /** `undefined` for a request's host that is not a host name or address. */
  name: string | undefined;
  port: string | undefined;
}

function splitHostPort(host: string): { name: string; port: string | undefined } {
  // An IPv6 literal keeps its brackets; its colons are not a port separator.
  const colon = host.lastIndexOf(':');
  if (colon < 0 || host.lastIndexOf(']') > colon) return { name: host, port: undefined };
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

/**
 * The request's host, canonical, and port: the Host header (its port, else the scheme's), else
 * SERVER_NAME/SERVER_PORT. The name is `undefined` where the authority is malformed.
 */
function requestAuthority(environ: Environ): Authority {
  const header = environ.HTTP_HOST;
  const { name, port } = header ? splitHostPort(header) : { name: environ.SERVER_NAME, port: environ.SERVER_PORT };
  const number = port ? canonicalPort(port) : environ['ngi.url_scheme'] === 'https' ? '443' : '80';
  return { name: number === undefined ? undefined : canonicalHost(name), port: number };
}

/** A port as decimal digits without leading zeros (`080` is 80); `undefined` for anything else (`0x50`). */
function canonicalPort(port: string): string | undefined {
  if (!/^\d{1,5}$/.test(port)) return undefined;
  const number = Number(port);
  return number <= 65535 ? String(number) : undefined;
}

function hostMatches(entry: Entry, authority: Authority): boolean {
  return entry.host === authority.name && (entry.port === undefined || entry.port === authority.port);
}

/** Wraps `startResponse` so a root-relative `Location` gets the mount's (encoded) `SCRIPT_NAME`. */
function redirectRewriter(environ: Environ, startResponse: StartResponse): StartResponse {
  const scriptName = environ.SCRIPT_NAME;
  const outer = environ[REDIRECT_BASE];
  // A rewriting mount further out adds its own part; add only what lies beyond it.
  const own = typeof outer === 'string' && scriptName.startsWith(outer) ? scriptName.slice(outer.length) : scriptName;
  environ[REDIRECT_BASE] = scriptName;
  if (own === '') return startResponse;
  const prefix = encodePath(own);
  return (status, headers, ...error) => startResponse(status, prefixLocation(headers, prefix, scriptName), ...error);
}

function prefixLocation(headers: HeaderList, prefix: string, scriptName: string): HeaderList {
  // Malformed headers pass through untouched, for startResponse to reject naming the rule (§6.2).
  if (!Array.isArray(headers)) return headers;
  return headers.map((pair) => {
    const [name, value] = Array.isArray(pair) ? pair : [];
    const rootRelative = typeof value === 'string' && value.startsWith('/') && !value.startsWith('//');
    if (!rootRelative || typeof name !== 'string' || name.toLowerCase() !== 'location') return pair;
    // Built from the mount point already (Express's `req.baseUrl`, `express.static`'s redirect
    // from `req.originalUrl`): a second prefix would point outside the app.
    return underMountPoint(value, scriptName) ? pair : [name, prefix + value];
  });
}

/**
 * Whether a root-relative location is the mount point or below it, on a segment boundary, however
 * spelled: `req.baseUrl` keeps the client's spelling (`/%61pi`, `/caf%c3%a9`), and an app may
 * write the path unencoded (`/café`).
 */
function underMountPoint(location: string, scriptName: string): boolean {
  const end = location.search(/[?#]/);
  return rawPrefixEnd(end < 0 ? location : location.slice(0, end), scriptName) >= 0;
}
