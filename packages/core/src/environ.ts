import { copyEnviron } from './client-watch.ts';
import { HttpError } from './errors.ts';
import type { Environ } from './types.ts';

/** The parts of a request target (RFC 9112 §3.2) that environ needs. */
export interface ParsedTarget {
  /** The path as received, still percent-encoded (`ngi.raw_path`). */
  rawPath: string;
  /** The path percent-decoded as UTF-8 (`PATH_INFO` at the root). */
  path: string;
  /** The raw query without `?` (`QUERY_STRING`). */
  query: string;
}

/**
 * Splits a request target into raw path, decoded path and query (§3.3, §3.5, §4.7).
 * Absolute-form targets (`http://host/p`) keep only their path; a fragment, which a client
 * should not send, is dropped. Throws an {@link HttpError} 400 when the path is not valid
 * percent-encoded UTF-8, or the target holds a character no request target may: a control,
 * a space or a raw non-ASCII one. HTTP/1's parser refuses those itself; HTTP/2 hands them on.
 */
export function parseTarget(target: string): ParsedTarget {
  if (target.charCodeAt(0) !== 47 /* / */) return parseOtherForm(target);
  // One pass finds the query and the end, and tells whether the path needs decoding: for the
  // usual short path, cheaper than the searches it replaces.
  let q = -1;
  let end = target.length;
  let encoded = false;
  for (let i = 1; i < end; i++) {
    const code = target.charCodeAt(i);
    if (code === 63 /* ? */) {
      if (q < 0) q = i;
    } else if (code === 35 /* # */) {
      end = i;
    } else if (code === 37 /* % */) {
      if (q < 0) encoded = true;
    } else if (code < 33 || code > 126) {
      throw new HttpError(400, `Bad request target: ${JSON.stringify(target)}`);
    }
  }
  const rawPath = target.slice(0, q < 0 ? end : q);
  return { rawPath, path: encoded ? decodeEncoded(rawPath) : rawPath, query: q < 0 ? '' : target.slice(q + 1, end) };
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A host (a registered name, an IPv4 address, an IP literal in brackets) and an optional port (RFC 3986 §3.2). */
export const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d*)?$/;

/** The asterisk form (`*`) and the absolute form (`http://host/p`), which keeps only its path. */
function parseOtherForm(target: string): ParsedTarget {
  if (target === '*') return { rawPath: '*', path: '*', query: '' };
  const scheme = SCHEME.exec(target);
  if (scheme === null) throw new HttpError(400, `Bad request target: ${JSON.stringify(target)}`);
  // The authority ends at the first `/`, `?` or `#`: `http://host?next=/admin` has the path `/`.
  let start = scheme[0].length;
  while (start < target.length && !AUTHORITY_END.includes(target[start]!)) start++;
  const rest = target.slice(start);
  return parseTarget(rest.charCodeAt(0) === 47 ? rest : `/${rest}`);
}

const AUTHORITY_END = '/?#';

/** Percent-decodes a path as UTF-8; an {@link HttpError} 400 when it is malformed (§3.3). */
export function decodePath(rawPath: string): string {
  return rawPath.includes('%') ? decodeEncoded(rawPath) : rawPath;
}

function decodeEncoded(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw new HttpError(400, `Malformed percent-encoding in path: ${JSON.stringify(rawPath)}`);
  }
}

// Keyed by the name as received: clients spell a header the same way every time, so most
// lookups find it without lower-casing a copy. A name the environ drops maps to "".
const cgiKeys = new Map<string, string>();
// Headers a request carries once (§5.3): a repeated Content-Length or Host is a 400 (Node's parser
// refuses the first itself); of the rest, the first is kept, as Node's `req.headers` keeps it
// (matchKnownFields): joined, `Authorization: Bearer a, Bearer b` would be one bad credential.
const singletons = new Set([
  'CONTENT_TYPE', 'CONTENT_LENGTH', 'HTTP_HOST', 'HTTP_AUTHORIZATION', 'HTTP_PROXY_AUTHORIZATION', 'HTTP_USER_AGENT',
  'HTTP_REFERER', 'HTTP_FROM', 'HTTP_MAX_FORWARDS', 'HTTP_IF_MODIFIED_SINCE', 'HTTP_IF_UNMODIFIED_SINCE', 'HTTP_LOCATION',
  'HTTP_RETRY_AFTER', 'HTTP_ETAG', 'HTTP_LAST_MODIFIED', 'HTTP_SERVER', 'HTTP_AGE', 'HTTP_EXPIRES',
]);

function cgiKey(name: string): string {
  let key = cgiKeys.get(name);
  if (key === undefined) {
    const upper = name.toUpperCase().replaceAll('-', '_');
    // §5.2: `X_Forwarded_For` would otherwise shadow `X-Forwarded-For` (gunicorn header_map=drop).
    if (name.includes('_')) key = '';
    else key = upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : 'HTTP_' + upper;
    if (cgiKeys.size < 512) cgiKeys.set(name, key);
  }
  return key;
}

/**
 * The header names of a connection's last request and their environ keys: a client sends the
 * same names in the same order on every request of a connection, and comparing a name with the
 * last one costs less than a lookup.
 */
export interface HeaderKeys {
  names: string[];
  keys: string[];
}

/**
 * Copies request headers into environ per §5. `rawHeaders` is Node's flat
 * `[name, value, name, value, …]` list, in the order received; `last` remembers a connection's.
 * Throws an {@link HttpError} 400 for a repeated Host or Content-Length (§5.3).
 */
export function addRequestHeaders(environ: Record<string, unknown>, rawHeaders: readonly string[], last?: HeaderKeys): void {
  let authority: string | undefined;
  let typeless = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    let key: string;
    if (last !== undefined && name === last.names[i >> 1]) key = last.keys[i >> 1]!;
    else {
      if (name.charCodeAt(0) === 58 /* : */) {
        if (name === ':authority') authority = value; // §5.5
        continue;
      }
      key = cgiKey(name);
      if (last !== undefined) {
        last.names[i >> 1] = name;
        last.keys[i >> 1] = key;
      }
    }
    if (key === '') continue;
    // §3.6: an empty Content-Type names no type, so the key is absent rather than "", and as the
    // first of its name it stays the one kept (§5.3): a later one is no more the type than it is.
    if ((value === '' || typeless) && key === 'CONTENT_TYPE') {
      typeless = true;
      continue;
    }
    const previous = environ[key];
    if (previous === undefined) environ[key] = value;
    else if (!singletons.has(key)) {
      environ[key] = previous + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value; // §5.3
    } else if (key === 'HTTP_HOST') {
      // RFC 9112 §3.2: a second Host is a 400. Kept first, a proxy routing on the last one
      // and a `mount` matching the first would see two different hosts.
      throw new HttpError(400, 'Bad request: more than one Host header field');
    } else if (key === 'CONTENT_LENGTH') {
      // RFC 9112 §6.3, and the same value twice too, as Node's parser refuses it: a proxy that
      // framed the body by the other one would see a different request.
      throw new HttpError(400, 'Bad request: more than one Content-Length header field');
    }
  }
  if (authority !== undefined) {
    const host = environ.HTTP_HOST as string | undefined;
    if (host === undefined) environ.HTTP_HOST = authority;
    // RFC 9113 §8.3.1: a front end routing on `:authority` and an application reading Host
    // would serve the request for two different sites.
    else if (!sameHost(host, authority)) throw new HttpError(400, 'Bad request: the Host header field names another host than :authority');
  }
}

/** Whether two authorities name the same host and port, as `mount` compares hosts: in canonical form, a default port aside. */
function sameHost(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  const canonical = canonicalAuthority(a);
  return canonical !== undefined && canonical === canonicalAuthority(b);
}

/** WHATWG URL's spelling of a host (`[0:0::1]` is `[::1]`), without a trailing dot or a default port; undefined for what is no authority. */
function canonicalAuthority(authority: string): string | undefined {
  if (/[@/?#\\\s]/.test(authority)) return undefined;
  try {
    const url = new URL(`http://${authority}/`);
    const port = url.port === '443' ? '' : url.port;
    return `${url.hostname.replace(/\.$/, '')}:${port}`;
  } catch {
    return undefined;
  }
}

/** The request headers environ describes, as lower-case `[name, value]` pairs (the inverse of §5). */
export function requestHeaders(environ: Environ): [string, string][] {
  const headers: [string, string][] = [];
  if (environ.CONTENT_TYPE !== undefined) headers.push(['content-type', environ.CONTENT_TYPE]);
  if (environ.CONTENT_LENGTH !== undefined) headers.push(['content-length', environ.CONTENT_LENGTH]);
  for (const key in environ) {
    const value = environ[key];
    if (key.startsWith('HTTP_') && typeof value === 'string') {
      headers.push([key.slice(5).toLowerCase().replaceAll('_', '-'), value]);
    }
  }
  return headers;
}

/** Dotted decimal without leading zeros, which some parsers read as octal (`010` as 8). */
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/i;
/** A zone, as Node gives a link-local address (`fe80::1%eth0`). */
const ZONE = /^[\w.-]+$/;

/**
 * Whether `value` is an IP address as `REMOTE_ADDR` holds one (§3.9): IPv4, or IPv6 without
 * brackets (RFC 4291 §2.2: eight groups, or fewer around one `::`, the last two possibly an IPv4
 * address), with a zone or not.
 */
export function isIpAddress(value: string): boolean {
  if (IPV4.test(value)) return true;
  const percent = value.indexOf('%');
  if (percent >= 0 && !ZONE.test(value.slice(percent + 1))) return false;
  const halves = (percent < 0 ? value : value.slice(0, percent)).split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((half) => (half === '' ? [] : half.split(':')));
  // An IPv4 address ends the address, and stands for two groups.
  const last = groups[groups.length - 1]!;
  let count = 0;
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    if (!IPV4.test(last.pop()!)) return false;
    count = 2;
  }
  for (const half of groups) {
    for (const group of half) if (!HEX_GROUP.test(group)) return false;
    count += half.length;
  }
  // `::` stands for one group or more.
  return halves.length === 2 ? count < 8 : count === 8;
}

/** The request's host as `name[:port]`: the Host header, else SERVER_NAME with a non-default port. */
export function requestHost(environ: Environ): string {
  if (environ.HTTP_HOST) return environ.HTTP_HOST;
  const port = environ.SERVER_PORT;
  const defaultPort = environ['ngi.url_scheme'] === 'https' ? '443' : '80';
  return port === defaultPort ? environ.SERVER_NAME : `${environ.SERVER_NAME}:${port}`;
}

/**
 * The encoded path `SCRIPT_NAME + PATH_INFO` stands for: `ngi.raw_path` when it still decodes
 * to them (so `%2F` survives), or ends them after a prefix a proxy removed (§3.4), else the
 * decoded path re-encoded.
 */
export function requestPath(environ: Environ): string {
  const path = environ.SCRIPT_NAME + environ.PATH_INFO;
  const raw = environ['ngi.raw_path'];
  if (encodes(raw, path)) return raw;
  const tail = raw.includes('%') ? safeDecode(raw) : raw;
  if (tail !== undefined && tail.startsWith('/') && path.endsWith(tail)) {
    return encodePath(path.slice(0, path.length - tail.length)) + raw;
  }
  return encodePath(path);
}

/**
 * Reconstructs the request URL, as PEP 3333's "URL Reconstruction" does. An asterisk-form
 * request (`OPTIONS *`) has no path in its URL (RFC 9112 §3.3): `http://host`, not `http://host*`.
 */
export function requestUrl(environ: Environ, options: { query?: boolean } = {}): string {
  const path = environ.PATH_INFO === '*' ? '' : requestPath(environ);
  const base = `${environ['ngi.url_scheme']}://${requestHost(environ)}${path}`;
  const query = environ.QUERY_STRING;
  return options.query !== false && query ? `${base}?${query}` : base;
}

/** Percent-encodes a decoded path, keeping `/` and the characters RFC 3986 allows in a segment. */
export function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => (c === '?' ? '%3F' : '%23'));
}

/**
 * Resolves `.` and `..` segments (RFC 3986 §5.2.4) and collapses repeated slashes in a decoded
 * path, never climbing above the root, as a dispatcher does before matching (§14.2), so
 * `/public/../admin` and `//admin` cannot slip past a mount at `/admin` (CVE-2026-22031; h3
 * `stripBase`). A trailing `/` is kept; a path not starting with `/` (`*`) is left as it is.
 */
export function normalizePath(path: string): string {
  if (!path.startsWith('/') || (!path.includes('//') && !path.includes('/.'))) return path;
  return '/' + normalSegments(path.split('/')).join('/');
}

/** The segments of a path split at its slashes (the first, `''`, left out) with `.`, `..` and empty ones resolved. */
function normalSegments(segments: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '..') out.pop();
    else if (segment !== '.' && segment !== '') out.push(segment);
    if (i === segments.length - 1 && (segment === '..' || segment === '.' || segment === '')) out.push('');
  }
  return out;
}

/**
 * Whether a request target's path is in the form {@link canonicalPath} leaves as it is, found
 * in one scan: it starts with `/` and has no `%`, `//` or `/.` before the query. An adapter
 * checks this first, so the usual path costs nothing more.
 */
export function isPlainPath(target: string): boolean {
  if (target.charCodeAt(0) !== 47 /* / */) return false;
  for (let i = 1; i < target.length; i++) {
    const code = target.charCodeAt(i);
    if (code === 63 /* ? */) return true;
    if (code === 37 /* % */ || ((code === 47 || code === 46) /* / . */ && target.charCodeAt(i - 1) === 47)) return false;
  }
  return true;
}

/**
 * The normal form of a raw path, percent-encoded where a segment needs it (`encodePath`), or
 * undefined when the path already is in it: once decoded, no `.`, `..` or empty segments, and no
 * escape of a character a segment may hold as it is (RFC 3986 §3.3 `pchar`: `%61`, `%7E`,
 * `%40`), nor of `/`. The letter case of escapes does not count (`%c3%a9` is `%C3%A9`).
 *
 * An NGI application routes on the decoded, normalized path (§3.3, §14.2); a host framework
 * routing on the path as sent (Express, Koa) must not hand it one it routed otherwise, or
 * `/%61dmin`, `/admin%2Fx` and `/x/../admin` reach it past the host's guards on `/admin`
 * (CVE-2026-22031). It redirects to this form instead, where its router sees what the
 * application would. With `keepSlash`, a `%2F` stays as sent: for an application that routes
 * on the raw path itself, as the host does (an Express app under `fromExpress`), to which it
 * is data inside a segment. Throws an `HttpError` 400 for a path that cannot be decoded.
 */
export function canonicalPath(rawPath: string, keepSlash = false): string | undefined {
  if (rawPath.charCodeAt(0) !== 47 /* / */) return undefined; // `*`, or nothing after a mount point
  if (!rawPath.includes('%')) {
    const normal = normalizePath(rawPath);
    return normal === rawPath ? undefined : encodePath(normal);
  }
  const segments = keepSlash ? rawPath.split('/').map(decodePath) : decodeEncoded(rawPath).split('/');
  const normal = normalSegments(segments);
  const same = normal.length === segments.length - 1 && normal.every((segment, i) => segment === segments[i + 1]);
  if (same && !NEEDLESS_ESCAPE.test(rawPath) && (keepSlash || !SLASH_ESCAPE.test(rawPath))) return undefined;
  // encodePath keeps a `/`: one left in a segment (keepSlash) is data, escaped again.
  return '/' + normal.map((segment) => encodePath(segment).replaceAll('/', '%2F')).join('/');
}

/** An escape of an unreserved character, a sub-delim, `:` or `@`: what a path segment holds unescaped (RFC 3986 §3.3). */
const NEEDLESS_ESCAPE = /%(?:2[146-9A-E]|3[0-9ABD]|4[0-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])/i;
const SLASH_ESCAPE = /%2F/i;

/**
 * Where `PATH_INFO` starts in the raw path, or -1 when the raw path is not `SCRIPT_NAME +
 * PATH_INFO` encoded. The prefix is found segment by segment on decoded text, because the
 * raw path may spell it differently (`/%61dmin` for `/admin`, §14.2). For adapters that
 * rebuild a request URL relative to the mount point and keep the client's spelling.
 */
export function splitRawPath(raw: string, scriptName: string, pathInfo: string): number {
  if (scriptName === '') return encodes(raw, pathInfo) ? 0 : -1;
  if (!raw.includes('%')) {
    const fits = raw.length === scriptName.length + pathInfo.length && raw.startsWith(scriptName);
    return fits && raw.endsWith(pathInfo) ? scriptName.length : -1;
  }
  const end = rawPrefixEnd(raw, scriptName);
  return end >= 0 && encodes(raw.slice(end), pathInfo) ? end : -1;
}

/**
 * Where the whole segments of a raw path that decode to `prefix` end (at a `/` or the path's
 * end), or -1 when it does not start with them: `/%61pi/x` and `/api/x` both start with `/api`.
 */
export function rawPrefixEnd(raw: string, prefix: string): number {
  // Segment by segment, each decoded once: an escape never spans a `/`. Decoding the whole
  // prefix again for each segment took time quadratic in a long path.
  let end = 0;
  let matched = 0;
  for (;;) {
    const slash = raw.indexOf('/', end + 1);
    const next = slash < 0 ? raw.length : slash;
    const segment = safeDecode(raw.slice(end, next));
    if (segment === undefined || !prefix.startsWith(segment, matched)) return -1;
    matched += segment.length;
    end = next;
    if (matched === prefix.length) return end;
    if (slash < 0) return -1;
  }
}

/** Whether `raw` is an encoding of `decoded`. */
function encodes(raw: string, decoded: string): boolean {
  return raw === decoded || (raw.includes('%') && safeDecode(raw) === decoded);
}

function safeDecode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * Moves `prefix` from the start of `PATH_INFO` to the end of `SCRIPT_NAME`, on a copy (§13.2,
 * §14.2). Matches on segment boundaries only: `/api` shifts `/api` and `/api/x`, never `/apix`.
 * Returns `undefined` when `PATH_INFO` is not under `prefix`.
 */
export function shiftPath(environ: Environ, prefix: string): Environ | undefined {
  if (prefix === '' || prefix === '/') return copyEnviron(environ);
  if (!prefix.startsWith('/') || prefix.endsWith('/')) {
    throw new TypeError(`shiftPath: prefix must start with "/" and not end with "/": ${JSON.stringify(prefix)}`);
  }
  const path = environ.PATH_INFO;
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length);
  if (rest !== '' && rest.charCodeAt(0) !== 47) return undefined;
  const shifted = copyEnviron(environ);
  shifted.SCRIPT_NAME = environ.SCRIPT_NAME + prefix;
  shifted.PATH_INFO = rest;
  return shifted;
}
