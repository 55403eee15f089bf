import { describe, toBytes } from './body.ts';
import { AUTHORITY, addRequestHeaders, isIpAddress, parseTarget } from './environ.ts';
import { HttpError, checkErrorStream, checkOptions, consoleErrors, type OptionTypes } from './errors.ts';
import { isCgiKey } from './_validate-environ.ts';
import type { Chunk, Environ, ErrorStream } from './types.ts';

/**
 * A request body given to {@link createEnviron}: bytes, a string, or chunks to stream; or what
 * `fetch` takes besides (a form, a `Blob`, an `ArrayBuffer`), sent as `fetch` sends it.
 */
export type BodyInit = Chunk | Iterable<Chunk> | AsyncIterable<Chunk> | URLSearchParams | FormData | Blob | ArrayBuffer | ArrayBufferView;

export interface EnvironInit {
  /** Upper-cased for the six methods `fetch()` upper-cases (`"post"` is `"POST"`), others as given. @default "GET" */
  method?: string | undefined;
  /**
   * Path and query (`/a?b=1`) or an absolute URL, which also sets the scheme, and the host
   * and port unless `headers` has a Host (§3.7).
   * @default "/"
   */
  url?: string | undefined;
  /** Request headers: a record, `[name, value]` pairs (names may repeat), or a WHATWG `Headers`. */
  headers?: Record<string, string | string[]> | Iterable<readonly [string, string]> | undefined;
  /**
   * The request body. When `headers` frame it with neither field, bytes and strings get a
   * `Content-Length`, and chunks to stream `Transfer-Encoding: chunked` (not over HTTP/2).
   */
  body?: BodyInit | undefined;
  /**
   * The mount prefix the app sees as `SCRIPT_NAME`: `""`, or a path that starts with `/` and
   * does not end with `/` (§3.2). `url`'s path must start with it.
   * @default ""
   */
  scriptName?: string | undefined;
  /** @default "HTTP/1.1" */
  protocol?: string | undefined;
  /** @default "127.0.0.1" */
  remoteAddress?: string | undefined;
  /** Aborts `ngi.signal`, and reading `ngi.input` then throws (§4.3); a fresh signal that never aborts when absent. */
  signal?: AbortSignal | undefined;
  /** @default one console.error line per message */
  errors?: ErrorStream | undefined;
  /** Extension keys to add (§15). */
  extra?: Record<string, unknown> | undefined;
}

/** A URL's scheme and authority (RFC 3986 §3): what `url` must start with to set the host. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
/** What a Content-Length holds (§3.6). */
const DIGITS = /^\d+$/;

/**
 * Builds a complete environ (§2–§5) from a request description: for tests, for runtimes
 * that speak fetch, and for anything else that has no Node request to start from. Throws an
 * {@link HttpError} 400 for what a server answers itself (§3.3, §5.3): a path that does not
 * decode, a bad or repeated Host or Content-Length; a TypeError for a field of the wrong type.
 */
export function createEnviron(init: EnvironInit = {}): Environ {
  checkInit(init);
  const scriptName = init.scriptName ?? '';
  if (scriptName !== '' && (!scriptName.startsWith('/') || scriptName.endsWith('/'))) {
    throw new TypeError(`createEnviron: scriptName must be "" or start with "/" and not end with "/" (§3.2), got ${JSON.stringify(scriptName)}`);
  }
  // Only an absolute URL names a host: `//admin/x` is a path (§3.3), where `new URL` would take `admin` for one.
  const url = new URL(init.url !== undefined && ORIGIN.test(init.url) ? init.url : 'http://localhost');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  // Spaces and non-ASCII text are sent percent-encoded, as a client (and `URL`) would send them.
  // An absolute url goes to parseTarget whole, as the absolute form: `http://host?q` asks for `/?q`.
  const sent = (init.url ?? '/').replace(/[^\x21-\x7e]+/gu, (text) => encodeURI(text));
  const target = parseTarget(sent || '/');
  const rest = target.path.slice(scriptName.length);
  if (scriptName !== '' && (!target.path.startsWith(scriptName) || (rest !== '' && !rest.startsWith('/')))) {
    throw new TypeError(`createEnviron: path ${target.path} is not under scriptName ${scriptName}`);
  }
  const raw = flattenHeaders(init.headers);
  const named = (name: string): boolean => raw.some((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === name);
  if (!named('host')) raw.push('host', url.host);
  const { body, type, length } = fetchBody(init.body);
  if (type !== undefined && !named('content-type')) raw.push('content-type', type);
  const fixed = typeof body === 'string' || body instanceof Uint8Array ? toBytes(body) : undefined;
  const framed = named('content-length') || named('transfer-encoding');
  if (!framed && (fixed !== undefined || length !== undefined)) raw.push('content-length', String(fixed?.byteLength ?? length));
  // Chunks of unknown length go chunked over HTTP/1.1, as a client sends them: without either
  // field, body parsers (type-is hasBody, so express.json()) take the request for bodiless.
  else if (body !== undefined && !framed && init.protocol === 'HTTP/1.0') {
    throw new TypeError('createEnviron: an HTTP/1.0 request body of unknown length needs a content-length header (HTTP/1.0 has no chunked coding)');
  } else if (body !== undefined && !framed && init.protocol !== 'HTTP/2') raw.push('transfer-encoding', 'chunked');
  const signal = init.signal ?? new AbortController().signal;
  const environ: Environ = {
    REQUEST_METHOD: methodOf(init.method),
    SCRIPT_NAME: scriptName,
    PATH_INFO: rest,
    QUERY_STRING: target.query,
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port || (scheme === 'https' ? '443' : '80'),
    SERVER_PROTOCOL: init.protocol ?? 'HTTP/1.1',
    REMOTE_ADDR: init.remoteAddress ?? '127.0.0.1',
    'ngi.version': [1, 0],
    'ngi.url_scheme': scheme,
    'ngi.input': inputOf(fixed ?? body, signal),
    'ngi.errors': init.errors ?? consoleErrors,
    'ngi.multithread': false,
    'ngi.multiprocess': false,
    'ngi.run_once': false,
    'ngi.signal': signal,
    'ngi.raw_path': target.rawPath,
    ...init.extra,
  };
  addRequestHeaders(environ, raw);
  // What a server answers 400 to (RFC 9112 §3.2, §3.2.4, §6.3; a Content-Length list such as
  // `5, 5` too, as Node's parser has it), so the environ is one a server would build.
  const host = environ.HTTP_HOST;
  if (host && !AUTHORITY.test(host)) throw new HttpError(400, `Bad Host header: ${JSON.stringify(host)}`);
  // An empty Host is valid (RFC 9112 §3.2); SERVER_NAME then stays the url's.
  if (host) setServer(environ, host);
  if (target.rawPath === '*' && environ.REQUEST_METHOD !== 'OPTIONS') throw new HttpError(400, `Bad request target "*" for ${environ.REQUEST_METHOD}`);
  const declared = environ.CONTENT_LENGTH;
  if (declared !== undefined && !DIGITS.test(declared)) throw new HttpError(400, `Bad Content-Length header: ${JSON.stringify(declared)}`);
  // RFC 9112 §6.1: both framings at once is how requests are smuggled; Node's parser refuses it.
  if (declared !== undefined && environ.HTTP_TRANSFER_ENCODING !== undefined) throw new HttpError(400, 'Bad request: both Content-Length and Transfer-Encoding');
  return environ;
}

/** Throws a TypeError naming what in `init` is of the wrong type, before it fails deep inside or is taken for something else. */
/** The fields of an {@link EnvironInit}; `checkInit` checks their types. */
export const ENVIRON_INIT: OptionTypes = {
  method: null,
  url: null,
  headers: null,
  body: null,
  scriptName: null,
  protocol: null,
  remoteAddress: null,
  signal: null,
  errors: null,
  extra: null,
};

/** The methods `fetch()` upper-cases whatever their case ("normalize a method"); others stay as given, as a server receives them. */
const NORMALIZED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/** `method: 'post'` is the POST `fetch()` would send: an app testing for "POST" must see it so. */
function methodOf(method: string | undefined): string {
  if (method === undefined) return 'GET';
  const upper = method.toUpperCase();
  return NORMALIZED.has(upper) ? upper : method;
}

function checkInit(init: EnvironInit): void {
  checkOptions(init, 'createEnviron', ENVIRON_INIT);
  for (const name of ['method', 'url', 'scriptName', 'protocol', 'remoteAddress'] as const) {
    if (init[name] !== undefined && typeof init[name] !== 'string') throw new TypeError(`createEnviron: ${name} must be a string, got ${describe(init[name])}`);
  }
  if (init.method !== undefined && !TOKEN.test(init.method)) throw new TypeError(`createEnviron: method must be a token such as "GET", got ${JSON.stringify(init.method)}`);
  if (init.signal !== undefined && !(init.signal instanceof AbortSignal)) {
    throw new TypeError(`createEnviron: signal must be an AbortSignal (a controller's .signal), got ${describe(init.signal)}`);
  }
  if (init.protocol !== undefined && !PROTOCOLS.includes(init.protocol)) {
    throw new TypeError(`createEnviron: protocol must be "HTTP/1.0", "HTTP/1.1" or "HTTP/2" (§3.8), got ${JSON.stringify(init.protocol)}`);
  }
  if (init.remoteAddress !== undefined && !isIpAddress(init.remoteAddress)) {
    throw new TypeError(`createEnviron: remoteAddress must be an IP address, IPv6 without brackets (§3.9), got ${JSON.stringify(init.remoteAddress)}`);
  }
  if (init.extra !== undefined && (typeof init.extra !== 'object' || init.extra === null)) {
    throw new TypeError(`createEnviron: extra must be an object of extension keys, got ${describe(init.extra)}`);
  }
  for (const key of Object.keys(init.extra ?? {})) {
    // §2.2, §15.1: a key without a dot is one of §3's or a header's; of `ngi.*`, only those of §4 exist.
    if (key.includes('.') ? key.startsWith('ngi.') && !NGI_KEYS.includes(key) : !isCgiKey(key)) {
      throw new TypeError(`createEnviron: extra key ${JSON.stringify(key)} is no CGI, HTTP_* or extension key; one of your own has a dot and a namespace of your own, such as "app.user" (§15)`);
    }
  }
  const body: unknown = init.body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array) && !isIterable(body) && !isFetchBody(body)) {
    // `{ body: { a: 1 } }`, as supertest's send() takes JSON.
    const hint = typeof body === 'object' && body !== null ? ' (for JSON, JSON.stringify it and set content-type)' : '';
    throw new TypeError(`createEnviron: body must be a string, a Uint8Array or an (async) iterable of chunks, got ${describe(body)}${hint}`);
  }
  if (init.headers !== undefined && (typeof init.headers !== 'object' || init.headers === null)) {
    throw new TypeError(`createEnviron: headers must be a record, [name, value] pairs or a Headers, got ${describe(init.headers)}`);
  }
  checkErrorStream(init.errors, 'createEnviron');
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const NOT_LATIN1 = /[^\x00-\xff]/;
const PROTOCOLS = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/2'];
/** The `ngi.*` keys `extra` may set (§4): the ones a server chooses. */
const NGI_KEYS = ['ngi.multithread', 'ngi.multiprocess', 'ngi.run_once', 'ngi.url_scheme', 'ngi.raw_path'];

function isFetchBody(value: unknown): boolean {
  return value instanceof URLSearchParams || value instanceof FormData || value instanceof Blob || value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/**
 * A body `fetch` takes that is not chunks, as `fetch` sends it: the bytes or their stream, the
 * Content-Type it names (a form's, a Blob's), and the length where it is known.
 */
function fetchBody(body: BodyInit | undefined): { body: Uint8Array | Iterable<Chunk> | AsyncIterable<Chunk> | string | undefined; type?: string; length?: number } {
  if (body instanceof URLSearchParams) return { body: body.toString(), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  if (body instanceof Blob) return { body: body.stream(), length: body.size, ...(body.type === '' ? {} : { type: body.type }) };
  if (body instanceof FormData) {
    // Encoded with its multipart boundary as fetch encodes it.
    const encoded = new Response(body);
    return { body: encoded.body!, type: encoded.headers.get('content-type')! };
  }
  if (body instanceof ArrayBuffer) return { body: new Uint8Array(body) };
  if (ArrayBuffer.isView(body) && !(body instanceof Uint8Array)) return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
  return { body };
}

function isIterable(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (Symbol.iterator in value || Symbol.asyncIterator in value);
}

/**
 * §3.7: a server takes SERVER_NAME and SERVER_PORT from the Host field, so a Host given in
 * `headers` names them too, not `url`; `host:` names no port, and an IPv6 literal keeps its brackets.
 */
function setServer(environ: Environ, host: string): void {
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  environ.SERVER_NAME = hasPort ? host.slice(0, colon) : host;
  environ.SERVER_PORT = (hasPort && host.slice(colon + 1)) || (environ['ngi.url_scheme'] === 'https' ? '443' : '80');
}

function flattenHeaders(headers: EnvironInit['headers']): string[] {
  const raw: string[] = [];
  if (headers === undefined) return raw;
  const entries = Symbol.iterator in headers ? headers : Object.entries(headers);
  for (const [name, value] of entries as Iterable<readonly [string, string | string[]]>) {
    if (typeof name !== 'string' || !TOKEN.test(name)) throw new TypeError(`createEnviron: header name ${JSON.stringify(name)} is not a token`);
    for (const one of Array.isArray(value) ? value : [value]) {
      if (typeof one !== 'string') throw new TypeError(`createEnviron: the value of header ${name} must be a string, got ${describe(one)}`);
      // Octets, read as Latin-1 (§2.4): anything else no client can send. A control character
      // one can, and a server refuses it (a runtime's Headers may let it through to toFetch).
      if (NOT_LATIN1.test(one)) throw new TypeError(`createEnviron: the value of header ${name} must be Latin-1 (octets), got ${JSON.stringify(one)}`);
      if (!FIELD_VALUE.test(one)) throw new HttpError(400, `Bad request: the value of header ${name} has a control character`);
      // A server's parser strips the whitespace around a field value (RFC 9110 §5.5), as fetch does.
      raw.push(name, one.replace(/^[\t ]+|[\t ]+$/g, ''));
    }
  }
  return raw;
}

/**
 * `ngi.input` over a body: one pass only, as a network body would be (§4.3). Once `signal`
 * aborts, reading throws its reason (§12.1), even while the body given is still waiting.
 */
function inputOf(body: Uint8Array | Iterable<Chunk> | AsyncIterable<Chunk> | undefined, signal: AbortSignal): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    async *[Symbol.asyncIterator]() {
      if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
      used = true;
      if (body === undefined) return;
      if (body instanceof Uint8Array) {
        if (body.byteLength > 0) yield body;
        return;
      }
      if (!(Symbol.asyncIterator in body)) {
        for (const chunk of body) {
          signal.throwIfAborted();
          yield toBytes(chunk);
        }
        return;
      }
      const iterator = body[Symbol.asyncIterator]();
      let done = false;
      try {
        for (;;) {
          signal.throwIfAborted();
          const step = await abortable(iterator.next(), signal);
          if (step.done) break;
          yield toBytes(step.value);
        }
        done = true;
      } finally {
        // The body given is ended too (a generator's `finally` runs), but not waited for: one
        // still waiting in next() takes return() only once that settles, which may be never.
        if (!done) void Promise.resolve().then(() => iterator.return?.()).catch(() => {});
      }
    },
  };
}

/** `step`, or a rejection with `signal`'s reason as soon as it aborts. */
function abortable<T>(step: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    step.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
