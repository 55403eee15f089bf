import { HttpError, encodePath, requestHost, splitRawPath, type Environ } from '@ngi/core';

/** A request target split at the mount point, both parts as the client spelled them. */
export interface SplitTarget {
  /** The raw spelling of `SCRIPT_NAME` (`''` at the root). */
  base: string;
  /** The raw spelling of `PATH_INFO`, at least `/`. */
  path: string;
}

/**
 * Finds `SCRIPT_NAME` and `PATH_INFO` in `ngi.raw_path`, so the handler sees `%2F` and other
 * escapes as sent. The prefix is matched segment by segment on decoded text, because the raw
 * path may spell it differently (`/%61pi` for `/api`, §14.2). A middleware that rewrote the
 * two keys leaves a raw path that no longer describes them: both are then re-encoded.
 */
export function splitTarget(environ: Environ): SplitTarget {
  const raw = environ['ngi.raw_path'];
  const scriptName = environ.SCRIPT_NAME;
  const pathInfo = environ.PATH_INFO;
  if (pathInfo === '*') throw new HttpError(400, 'An asterisk-form request target (OPTIONS *) has no fetch Request URL');
  const end = splitRawPath(raw, scriptName, pathInfo);
  if (end >= 0) return { base: raw.slice(0, end), path: raw.slice(end) || '/' };
  return { base: encodePath(scriptName), path: encodePath(pathInfo) || '/' };
}

// What a URL parser leaves exactly as it is: no dot segment, nothing it percent-encodes, a
// canonical host. Anything else goes through `URL`, as a native Request's URL would.
const PLAIN_PATH = /^\/[\w!$%&()*+,\-./:;=@[\]|~]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;
const PLAIN_QUERY = /^[\w!$%&()*+,\-./:;=?@[\]^`{|}~]*$/;
// A lower-case name or a dotted quad, then an optional port without leading zeros. The name is
// checked label by label: one expression for it all took time quadratic in its length to fail
// (a long label ending in a capital letter, which any client can send).
const HOST_PORT = /^([a-z0-9.-]+)(?::([1-9]\d{0,4}))?$/;
/** An IPv4 address as the URL parser writes it. */
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** A last label the URL parser reads as a number, making the name an IPv4 address. */
const NUMBER = /^(?:\d+|0x[0-9a-f]*)$/;
const PUNYCODE = /(?:^|\.)xn--/i;

// The last host checked: a server sees the same Host header request after request, and the
// check costs more than the rest of the URL.
let lastHost = '';
let lastScheme = '';
let lastPlain = false;

function plainHost(host: string, scheme: string): boolean {
  if (host !== lastHost || scheme !== lastScheme) {
    lastPlain = checkHost(host, scheme);
    lastHost = host;
    lastScheme = scheme;
  }
  return lastPlain;
}

function checkHost(host: string, scheme: string): boolean {
  const match = HOST_PORT.exec(host);
  // A punycode label must decode (`xn--a` does not): only the parser knows, so it decides.
  if (match === null || !plainName(match[1]!) || PUNYCODE.test(host)) return false;
  const port = match[2];
  // The parser drops a default port and rejects one past 65535.
  return port === undefined || (Number(port) <= 65535 && port !== (scheme === 'https' ? '443' : '80'));
}

/** A dotted quad, or labels none of them empty (a trailing dot aside) whose last is no number. */
function plainName(name: string): boolean {
  if (DOTTED_QUAD.test(name)) return true;
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  return !labels.includes('') && !NUMBER.test(labels[labels.length - 1]!);
}

/**
 * The absolute URL of the request as the handler sees it: scheme, host, the raw `path` and
 * the raw query, serialized as `new URL(...).href` would. Throws an `HttpError` 400 when the
 * host cannot be part of a URL.
 */
export function requestHref(environ: Environ, path: string): string {
  const host = requestHost(environ);
  const query = environ.QUERY_STRING;
  const scheme = environ['ngi.url_scheme'];
  const search = query === '' ? '' : `?${query}`;
  const plain = plainHost(host, scheme) && PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path) && PLAIN_QUERY.test(query);
  if (plain) return `${scheme}://${host}${path}${search}`;
  // The parser takes a `\` in an http(s) path for a `/`, and resolves the dot segments that makes:
  // `/admin\secret` would reach the handler as `/admin/secret`, past a `mount` entry for `/admin`
  // that saw no such segment. Encoded, the handler's path is the one `PATH_INFO` names (§3.4).
  const href = `${scheme}://${host}${path.replaceAll('\\', '%5C')}${search}`;
  try {
    return new URL(href).href;
  } catch {
    throw new HttpError(400, `The request has no valid URL (Host ${JSON.stringify(host)})`);
  }
}
