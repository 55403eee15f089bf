import { describe } from './body.ts';
import { ValidationError } from './_validate-error.ts';
import { AUTHORITY, isIpAddress } from './environ.ts';
import type { Environ, ErrorStream } from './types.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^\d+$/;
const PROTOCOL = /^HTTP\/(?:1\.0|1\.1|2)$/;
const NOT_LATIN1 = /[^\x00-\xff]/;
/** An RFC 9110 field value, as a parser lets one through: no CR, LF, NUL or other control character. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** The keys of §4; no other `ngi.*` key exists (§15.1). */
const NGI_KEYS = new Set(['ngi.version', 'ngi.url_scheme', 'ngi.input', 'ngi.errors', 'ngi.multithread', 'ngi.multiprocess', 'ngi.run_once', 'ngi.signal', 'ngi.raw_path']);
/** §5.1: a field name upper-cased, `-` as `_`; no pseudo-header (§5.5). */
const HEADER_KEY = /^HTTP_[A-Z0-9_!#$%&'*+.^`|~]+$/;
/** A host (RFC 3986 §3.2.2): a registered name, an IPv4 address, or an IP literal in brackets. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)$/;

/** CGI keys every environ carries, with the rule that requires each (§3). */
const REQUIRED: readonly (readonly [key: string, rule: string])[] = [
  ['REQUEST_METHOD', '§3.1'],
  ['SCRIPT_NAME', '§3.2'],
  ['PATH_INFO', '§3.3'],
  ['QUERY_STRING', '§3.5'],
  ['SERVER_NAME', '§3.7'],
  ['SERVER_PORT', '§3.7'],
  ['SERVER_PROTOCOL', '§3.8'],
];

/** The keys of §3: with `HTTP_*`, all a key without a dot may be (§2.2). */
const CGI_KEYS = new Set([...REQUIRED.map(([key]) => key), 'CONTENT_TYPE', 'CONTENT_LENGTH', 'REMOTE_ADDR', 'REMOTE_PORT']);

const BOOLEANS = ['ngi.multithread', 'ngi.multiprocess', 'ngi.run_once'] as const;

/** Whether a key without a dot is one §2.2 allows: a CGI key of §3, or an `HTTP_*` key. */
export function isCgiKey(key: string): boolean {
  return CGI_KEYS.has(key) || HEADER_KEY.test(key);
}

function fail(rule: string, detail: string): never {
  throw new ValidationError(rule, detail);
}

/** Checks the server's side of §2–§4: the environ an application is called with. */
export function checkEnviron(environ: unknown): asserts environ is Environ {
  const proto: unknown = typeof environ === 'object' && environ !== null ? Object.getPrototypeOf(environ) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    fail('§2.1', `environ must be a plain object, got ${describe(environ)}`);
  }
  const env = environ as Record<string, unknown>;
  for (const [key, rule] of REQUIRED) {
    if (typeof env[key] !== 'string') fail(rule, `environ.${key} must be a string, got ${describe(env[key])}`);
  }
  checkCgiValues(env);
  checkCgiFormats(env as Environ);
  checkPaths(env as Environ);
  checkNgiKeys(env);
}

/** §2.2, §2.4, §3.6, §5.1: dotless keys are §3's or headers', hold Latin-1 strings, and Content-* never appear as HTTP_*. */
function checkCgiValues(env: Record<string, unknown>): void {
  for (const key of Object.keys(env)) {
    if (key.startsWith('ngi.') && !NGI_KEYS.has(key)) fail('§15.1', `environ.${key}: the ngi. prefix is the spec's own; a key of your own goes in a namespace of your own`);
    if (key.includes('.')) continue;
    const value = env[key];
    // `'HTTP_HOST' in environ` would say the header was sent.
    if (value === undefined) fail('§2.2', `environ.${key} is present but undefined: an absent key is deleted, not set to undefined`);
    if (!isCgiKey(key)) {
      if (key.startsWith('HTTP_')) fail('§5.1', `environ.${key} is no header's key: HTTP_ and the field name upper-cased, "-" as "_"`);
      fail('§2.2', `environ.${key} is neither a CGI key of §3 nor an HTTP_* key; a key of your own needs a dot (§15)`);
    }
    if (typeof value !== 'string') fail('§2.2', `environ.${key} must be a string, got ${describe(value)}`);
    if (key !== 'SCRIPT_NAME' && key !== 'PATH_INFO' && NOT_LATIN1.test(value)) {
      fail('§2.4', `environ.${key} has a character above U+00FF: ${JSON.stringify(value)}`);
    }
    if ((key.startsWith('HTTP_') || key === 'CONTENT_TYPE') && !FIELD_VALUE.test(value)) {
      fail('§5.1', `environ.${key} holds a control character no field value has: ${JSON.stringify(value)}`);
    }
  }
  if (env.HTTP_CONTENT_TYPE !== undefined || env.HTTP_CONTENT_LENGTH !== undefined) {
    fail('§3.6', 'Content-Type and Content-Length go in CONTENT_TYPE/CONTENT_LENGTH, never HTTP_CONTENT_*');
  }
}

/** §3.1, §3.6–§3.8: the formats of method, content keys, port and protocol. */
function checkCgiFormats(env: Environ): void {
  if (!TOKEN.test(env.REQUEST_METHOD)) fail('§3.1', `REQUEST_METHOD is not a token: ${JSON.stringify(env.REQUEST_METHOD)}`);
  for (const key of ['CONTENT_TYPE', 'CONTENT_LENGTH'] as const) {
    if (env[key] === '') fail('§3.6', `${key} is absent when the request has no such field, never ""`);
  }
  if (env.CONTENT_LENGTH !== undefined && !DIGITS.test(env.CONTENT_LENGTH)) {
    fail('§3.6', `CONTENT_LENGTH must be decimal digits, got ${JSON.stringify(env.CONTENT_LENGTH)}`);
  }
  if (env.SERVER_NAME === '') fail('§3.7', 'SERVER_NAME must not be empty');
  if (!HOST.test(env.SERVER_NAME)) fail('§3.7', `SERVER_NAME must be a host name or address, got ${JSON.stringify(env.SERVER_NAME)}`);
  if (!DIGITS.test(env.SERVER_PORT)) fail('§3.7', `SERVER_PORT must be decimal digits, got ${JSON.stringify(env.SERVER_PORT)}`);
  // An empty Host is valid (RFC 9112 §3.2): SERVER_NAME then comes from the connection.
  if (env.HTTP_HOST && !AUTHORITY.test(env.HTTP_HOST)) {
    fail('§3.7', `HTTP_HOST must be a host and an optional port, got ${JSON.stringify(env.HTTP_HOST)}`);
  }
  if (env.REMOTE_ADDR !== undefined && (typeof env.REMOTE_ADDR !== 'string' || !isIpAddress(env.REMOTE_ADDR))) {
    fail('§3.9', `REMOTE_ADDR must be an IP address (IPv6 without brackets), got ${JSON.stringify(env.REMOTE_ADDR)}`);
  }
  if (env.REMOTE_PORT !== undefined && !DIGITS.test(env.REMOTE_PORT)) {
    fail('§3.9', `REMOTE_PORT must be decimal digits, got ${JSON.stringify(env.REMOTE_PORT)}`);
  }
  if (!PROTOCOL.test(env.SERVER_PROTOCOL)) {
    fail('§3.8', `SERVER_PROTOCOL must be HTTP/1.0, HTTP/1.1 or HTTP/2, got ${JSON.stringify(env.SERVER_PROTOCOL)}`);
  }
}

/** §3.2–§3.4: the mount prefix and the rest of the path. */
function checkPaths(env: Environ): void {
  const script = env.SCRIPT_NAME;
  const path = env.PATH_INFO;
  if (script !== '' && (!script.startsWith('/') || script.endsWith('/'))) {
    fail('§3.2', `SCRIPT_NAME must be "" or start with "/" and not end with "/", got ${JSON.stringify(script)}`);
  }
  if (path !== '' && path !== '*' && !path.startsWith('/')) {
    fail('§3.3', `PATH_INFO must be "", "*" or start with "/", got ${JSON.stringify(path)}`);
  }
  if (path === '*' && env.REQUEST_METHOD !== 'OPTIONS') fail('§3.3', `PATH_INFO "*" is for OPTIONS only, got ${env.REQUEST_METHOD}`);
  if (script === '' && path === '') fail('§3.4', 'SCRIPT_NAME and PATH_INFO are both empty; at the root PATH_INFO is at least "/"');
}

/** §4.1–§4.7: the `ngi.*` keys, all required. */
function checkNgiKeys(env: Record<string, unknown>): void {
  const version = env['ngi.version'];
  if (!Array.isArray(version) || version.length !== 2 || version[0] !== 1 || version[1] !== 0) {
    fail('§4.1', `ngi.version must be [1, 0], got ${JSON.stringify(version)}`);
  }
  const scheme = env['ngi.url_scheme'];
  if (scheme !== 'http' && scheme !== 'https') fail('§4.2', `ngi.url_scheme must be "http" or "https", got ${JSON.stringify(scheme)}`);
  const input = env['ngi.input'] as { [Symbol.asyncIterator]?: unknown } | null | undefined;
  if (typeof input?.[Symbol.asyncIterator] !== 'function') fail('§4.3', `ngi.input must be an AsyncIterable, got ${describe(input)}`);
  const errors = env['ngi.errors'] as Partial<ErrorStream> | null | undefined;
  if (typeof errors?.write !== 'function' || typeof errors.flush !== 'function') {
    fail('§4.4', `ngi.errors must have write() and flush(), got ${describe(errors)}`);
  }
  for (const key of BOOLEANS) {
    if (typeof env[key] !== 'boolean') fail('§4.5', `${key} must be a boolean, got ${describe(env[key])}`);
  }
  if (!(env['ngi.signal'] instanceof AbortSignal)) fail('§4.6', `ngi.signal must be an AbortSignal, got ${describe(env['ngi.signal'])}`);
  const rawPath = env['ngi.raw_path'];
  if (typeof rawPath !== 'string') fail('§4.7', `ngi.raw_path must be a string, got ${describe(rawPath)}`);
  if (/[?#]/.test(rawPath)) fail('§4.7', `ngi.raw_path is the path without the query, got ${JSON.stringify(rawPath)}`);
}

/**
 * `ngi.input` seen through the validator (§4.3): it can be iterated once, yields only
 * Uint8Array, and ends after exactly CONTENT_LENGTH bytes when that is set.
 */
export function checkedInput(input: AsyncIterable<Uint8Array>, contentLength: string | undefined): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      if (used) fail('§4.3', 'ngi.input was iterated a second time; it can be read once');
      used = true;
      return new InputIterator(input[Symbol.asyncIterator](), contentLength === undefined ? undefined : Number(contentLength));
    },
  };
}

class InputIterator implements AsyncIterator<Uint8Array> {
  received = 0;

  constructor(
    readonly inner: AsyncIterator<Uint8Array>,
    readonly expected: number | undefined,
  ) {}

  async next(): Promise<IteratorResult<Uint8Array>> {
    const step = await this.inner.next();
    if (step.done) {
      if (this.expected !== undefined && this.received !== this.expected) {
        fail('§4.3', `ngi.input ended after ${this.received} bytes, but CONTENT_LENGTH is ${this.expected}`);
      }
      return step;
    }
    const chunk: unknown = step.value;
    if (!(chunk instanceof Uint8Array)) fail('§4.3', `ngi.input yielded ${describe(chunk)}; it yields only Uint8Array`);
    this.received += chunk.byteLength;
    if (this.expected !== undefined && this.received > this.expected) {
      fail('§4.3', `ngi.input yielded ${this.received} bytes, more than CONTENT_LENGTH ${this.expected}`);
    }
    return step;
  }

  async return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
    if (typeof this.inner.return === 'function') return this.inner.return(value);
    return { done: true, value: undefined };
  }
}

/**
 * `ngi.errors` seen through the validator: `write` takes only strings, and an application
 * that tries to close the stream is told it must not (§4.4), as `wsgiref.validate` does.
 */
export function checkedErrors(errors: ErrorStream): ErrorStream {
  const checked: ErrorStream & { close(): never } = {
    write(message: string): void {
      if (typeof message !== 'string') fail('§4.4', `ngi.errors.write() takes a string, got ${describe(message)}`);
      errors.write(message);
    },
    flush(): void {
      errors.flush();
    },
    close(): never {
      fail('§4.4', 'ngi.errors is the server\'s; an application must not close it');
    },
  };
  return checked;
}
