import { describe } from './body.ts';
import { copyEnviron } from './client-watch.ts';
import { notAnApplication } from './errors.ts';
import type { Environ, Middleware } from './types.ts';
import { isIpAddress } from './environ.ts';

/**
 * How many proxies in front of the app set each `X-Forwarded-*` header (werkzeug ProxyFix).
 * With `n`, the value used is the `n`-th from the right of the comma-separated list, the one
 * the outermost trusted proxy added; a header with fewer than `n` values is ignored, and `0`
 * ignores the header. Trust only as many proxies as really sit in front of the server:
 * anything further left is the client's to forge.
 */
export interface ProxyFixOptions {
  /**
   * `X-Forwarded-For` → `REMOTE_ADDR`, and `REMOTE_PORT` when the value carries a port (else
   * it is removed: it was the proxy's). A value that is no IP address (`unknown`) is ignored.
   * @default 1
   */
  for?: number | undefined;
  /**
   * `X-Forwarded-Proto` → `ngi.url_scheme` (only `http` and `https` are accepted), and
   * `SERVER_PORT` → the scheme's default when `HTTP_HOST` names no port.
   * @default 1
   */
  proto?: number | undefined;
  /**
   * `X-Forwarded-Host` → `HTTP_HOST`, `SERVER_NAME` and `SERVER_PORT` (the scheme's
   * default when the host has no port).
   * @default 0
   */
  host?: number | undefined;
  /**
   * `X-Forwarded-Port` → `SERVER_PORT` and the port in `HTTP_HOST`.
   * @default 0
   */
  port?: number | undefined;
  /**
   * `X-Forwarded-Prefix` → prepended to `SCRIPT_NAME` (a path starting with `/`; a trailing
   * `/` is dropped; one with a `\`, a control character or a `.`/`..` segment is ignored).
   * @default 0
   */
  prefix?: number | undefined;
}

/** Extension key (§15.1) holding the environ values proxyFix replaced (werkzeug `proxy_fix.orig`). */
const ORIGINAL = 'proxy_fix.orig';
/** How many proxies are trusted for each header, every one given. */
type Trust = Record<keyof ProxyFixOptions, number>;

const DEFAULTS: Trust = { for: 1, proto: 1, host: 0, port: 0, prefix: 0 };
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~!$&'()*+,;=%-]+)(?::\d{1,5})?$/i;

/** A `host[:port]` value as a Host header carries it; in brackets, an IPv6 address (RFC 3986 §3.2.2). */
function isHost(value: string): boolean {
  const { name, port } = splitHost(value);
  if (name.startsWith('[') && !(name.includes(':') && isIpAddress(name.slice(1, -1)))) return false;
  return HOST.test(value) && (port === '' || isPort(port));
}

/** A TCP port, 0–65535: a forwarded value past it is malformed, and ignored like one. */
function isPort(value: string): boolean {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535;
}

/**
 * Middleware that trusts the `X-Forwarded-*` headers set by a known number of reverse
 * proxies, so the app sees the client's address, scheme, host and path prefix. The app runs
 * on a copy of environ (§13.2) whose `proxy_fix.orig` holds the values it replaced.
 * Throws a TypeError for options that are not an object, an unknown option, or a count that
 * is not a non-negative integer.
 */
export function proxyFix(options: ProxyFixOptions = {}): Middleware {
  // werkzeug's order, ProxyFix(app, x_for=1): here the application goes to the middleware returned.
  if (arguments.length > 1) throw new TypeError('proxyFix: takes only options; give the application to the middleware it returns, proxyFix(options)(app)');
  const trust = checkOptions(options);
  return (app) => {
    const why = notAnApplication(app);
    if (why !== undefined) throw new TypeError(`proxyFix: the middleware expected an NGI application, ${why}`);
    return (environ, startResponse) => app(fix(environ, trust), startResponse);
  };
}

function checkOptions(options: ProxyFixOptions): Trust {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    // werkzeug's ProxyFix takes the app first; here the app goes to the middleware returned.
    const got = typeof options === 'function' ? 'an application: use proxyFix(options)(app)' : describe(options);
    throw new TypeError(`proxyFix: options must be an object like { for: 1, proto: 1 }, got ${got}`);
  }
  const trust = { ...DEFAULTS };
  for (const [name, value] of Object.entries(options) as [keyof ProxyFixOptions, unknown][]) {
    if (!Object.hasOwn(DEFAULTS, name)) {
      throw new TypeError(`proxyFix: unknown option ${JSON.stringify(name)} (use for, proto, host, port, prefix)`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new TypeError(`proxyFix: option "${name}" must be a non-negative integer, got ${describe(value)}`);
    }
    trust[name] = value;
  }
  return trust;
}

function fix(environ: Environ, trust: Trust): Environ {
  const fixed = copyEnviron(environ);
  fixed[ORIGINAL] = {
    REMOTE_ADDR: environ.REMOTE_ADDR,
    REMOTE_PORT: environ.REMOTE_PORT,
    'ngi.url_scheme': environ['ngi.url_scheme'],
    HTTP_HOST: environ.HTTP_HOST,
    SERVER_NAME: environ.SERVER_NAME,
    SERVER_PORT: environ.SERVER_PORT,
    SCRIPT_NAME: environ.SCRIPT_NAME,
  };
  const remote = forwarded(environ.HTTP_X_FORWARDED_FOR, trust.for);
  if (remote) setRemote(fixed, remote);
  const proto = forwarded(environ.HTTP_X_FORWARDED_PROTO, trust.proto)?.toLowerCase();
  if (proto === 'http' || proto === 'https') {
    fixed['ngi.url_scheme'] = proto;
    // §3.7: a Host without a port stands for the scheme's default port, and the scheme changed.
    if (environ.HTTP_HOST && !splitHost(environ.HTTP_HOST).port) fixed.SERVER_PORT = defaultPort(fixed);
  }
  const host = forwarded(environ.HTTP_X_FORWARDED_HOST, trust.host);
  if (host && isHost(host)) setHost(fixed, host);
  const port = forwarded(environ.HTTP_X_FORWARDED_PORT, trust.port);
  if (port && isPort(port)) setPort(fixed, port);
  const prefix = forwarded(environ.HTTP_X_FORWARDED_PREFIX, trust.prefix);
  if (prefix?.startsWith('/')) fixed.SCRIPT_NAME = decodePrefix(prefix) + environ.SCRIPT_NAME;
  return fixed;
}

/** The `trusted`-th value from the right of a comma-separated header, if it has that many. */
function forwarded(header: string | undefined, trusted: number): string | undefined {
  if (trusted === 0 || !header) return undefined;
  const values = header.split(',');
  return values.length >= trusted ? values.at(-trusted)!.trim() || undefined : undefined;
}

/**
 * §3.9: REMOTE_ADDR is a bare address and REMOTE_PORT its port. Some proxies append the
 * client's port or bracket IPv6 (RFC 7239 §6); the proxy's own port would describe no connection.
 */
function setRemote(environ: Environ, value: string): void {
  const match = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value) ?? /^([^:]+):(\d{1,5})$/.exec(value);
  const address = match ? match[1]! : value;
  const port = match?.[2];
  // What is no address (`unknown`, an obfuscated RFC 7239 name, a typo) or no port leaves both as they were.
  if (!isIpAddress(address) || (port !== undefined && !isPort(port))) return;
  environ.REMOTE_ADDR = address;
  if (port === undefined) delete environ.REMOTE_PORT;
  else environ.REMOTE_PORT = port;
}

/** A `host[:port]` value split at its port colon; an IPv6 literal keeps its brackets. */
function splitHost(host: string): { name: string; port: string } {
  const colon = host.lastIndexOf(':');
  if (colon < host.lastIndexOf(']') || colon < 0) return { name: host, port: '' };
  return { name: host.slice(0, colon), port: host.slice(colon + 1) };
}

function defaultPort(environ: Environ): string {
  return environ['ngi.url_scheme'] === 'https' ? '443' : '80';
}

function setHost(environ: Environ, host: string): void {
  const { name, port } = splitHost(host);
  environ.HTTP_HOST = host;
  environ.SERVER_NAME = name;
  environ.SERVER_PORT = port || defaultPort(environ);
}

function setPort(environ: Environ, port: string): void {
  const host = environ.HTTP_HOST;
  if (host) environ.HTTP_HOST = `${splitHost(host).name}:${port}`;
  environ.SERVER_PORT = port;
}

/**
 * SCRIPT_NAME is decoded (§3.2, §3.3) and never ends with `/`; `//` is collapsed so a
 * redirect built from it can't turn protocol-relative. An undecodable prefix is dropped, and
 * so is one a URL parser would read otherwise than as a path: with a `\` (`/\evil.com` is
 * `//evil.com` to a browser), a control character (a tab is stripped: `/\t/evil.com`), or a
 * `.` or `..` segment. The header's octets arrive as Latin-1 (§2.4), so a prefix a proxy
 * sends unencoded is decoded as the UTF-8 it is, like a percent-encoded one.
 */
function decodePrefix(prefix: string): string {
  const octets = prefix.replace(/[\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(octets);
  } catch {
    return '';
  }
  if (/[\\\x00-\x1f\x7f]|(?:^|\/)\.\.?(?:\/|$)/.test(decoded)) return '';
  return decoded.replace(/\/{2,}/g, '/').replace(/\/$/, '');
}
