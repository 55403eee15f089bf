import type { ErrorStream } from './types.ts';

const HTTP_ERROR: unique symbol = Symbol.for('ngi.HttpError');
const RESPONSE_DISCARDED: unique symbol = Symbol.for('ngi.ResponseDiscarded');
const REPORTED: unique symbol = Symbol.for('ngi.reported');

/**
 * For an NGI server inside another (an application's listener, through `fromNodeListener`): the
 * error it dropped its response for, which it reported itself. The outer server drops its own
 * response for it as for any error (§11.2) but does not report it again.
 */
export function reportedInside(error: Error): Error {
  return Object.assign(new Error(error.message, { cause: error }), { [REPORTED]: true });
}

/** Whether `error` came from {@link reportedInside}. */
export function isReportedInside(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[REPORTED] === true;
}

/**
 * `instanceof` for the error classes adapters pass between packages. Two versions of this
 * package installed side by side give two copies of each class, and an HttpError thrown with one
 * would not be an instance of the other's: a 403 would be answered as a 500. So the class itself
 * recognises its instances by a brand every copy shares (`Symbol.for`); a subclass checks as usual.
 */
function isBranded(checked: Function, cls: Function, brand: symbol, value: unknown): boolean {
  if (checked !== cls) return Function.prototype[Symbol.hasInstance].call(checked, value);
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/**
 * An error that carries the HTTP status a server should answer with (e.g. 400, 413).
 * Throws a TypeError for a status outside 400–599.
 */
export class HttpError extends Error {
  /** Marks an HttpError from any copy of this package (see `isBranded`); on the prototype, out of logs. */
  get [HTTP_ERROR](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, HttpError, HTTP_ERROR, value);
  }

  /**
   * `status` under the name Fastify reads: a framework answering it keeps it. Settable, as
   * http-errors sets both when it wraps an error (body-parser does).
   */
  get statusCode(): number {
    return this.status;
  }

  set statusCode(value: number) {
    (this as { status: number }).status = value;
  }

  /** Its message is the answer (§11.1), as Koa and Fastify show an error's when `expose` is set (http-errors). */
  declare expose: boolean;

  /** The answer as a fetch `Response`, which is how a Hono app answers an error that has one (its HTTPException's way). */
  getResponse(): Response {
    return new Response(this.message, { status: this.status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }

  constructor(
    readonly status: number,
    message: string,
  ) {
    // Servers answer it as is (§11.1): a 200 would pass the error off as a success, and a
    // status outside 100–999 makes Node's writeHead throw while the error is being answered.
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new TypeError(`HttpError: status must be an error status from 400 to 599, got ${status}`);
    }
    super(message);
    this.name = 'HttpError';
  }
}
// Not enumerable: error serializers that copy an error's keys (pino's) see what they saw before.
Object.defineProperty(HttpError.prototype, 'expose', { value: true, writable: true, configurable: true });

/**
 * What a sink's `write` rejects with when the host framework sent another response in place of
 * this one (a Fastify `onSend` hook replacing the payload, say). `runApp` then stops the body
 * and closes it (§9.4, §9.5), as for a client that left, but logs nothing and drops nothing:
 * the other response went out whole.
 */
export class ResponseDiscarded extends Error {
  /** Marks a ResponseDiscarded from any copy of this package (see `isBranded`); on the prototype, out of logs. */
  get [RESPONSE_DISCARDED](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, ResponseDiscarded, RESPONSE_DISCARDED, value);
  }

  constructor(message = 'The response body was discarded: the framework sent another response') {
    super(message);
    this.name = 'ResponseDiscarded';
  }
}

/** The `ngi.errors` stream used when a caller supplies none: one `console.error` line per message. */
export const consoleErrors = {
  write(message: string): void {
    console.error(message.endsWith('\n') ? message.slice(0, -1) : message);
  },
  flush(): void {},
};

/**
 * Checks an `errors` option: a stream without `write()` would swallow every report silently
 * (§4.4), since a server cannot log that its error stream failed. Throws a TypeError naming
 * `where` (`toNodeListener`, say).
 */
export function checkErrorStream(errors: unknown, where: string): void {
  const stream = errors as Partial<ErrorStream> | null | undefined;
  if (errors !== undefined && (typeof stream?.write !== 'function' || typeof stream.flush !== 'function')) {
    // process.stderr, the default some READMEs name, has write() but no flush().
    const hint = typeof stream?.write === 'function' ? "; a Node stream such as process.stderr has no flush(): wrap it, { write: (m) => process.stderr.write(m), flush() {} }" : '';
    throw new TypeError(`${where}: options.errors must be an error stream { write(message), flush() } (§4.4)${hint}`);
  }
}

/** The type each option must have, by name, for {@link checkOptions}; null for one its function checks itself. */
export type OptionTypes = Readonly<Record<string, 'boolean' | 'number' | 'string' | 'function' | null>>;

/**
 * For functions taking options: throws a TypeError naming `where` when they are given as
 * something other than an object, as `serve(app, 3000)` would read no port from 3000. Given
 * the options' `types`, also for an option not among them, which would otherwise be ignored
 * without a word (`gracefullTimeout`), and for one of the wrong type (`multiprocess: 'false'`,
 * which would count as true).
 */
export function checkOptions(options: unknown, where: string, types?: OptionTypes): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const given = typeof options === 'function' ? 'a function' : typeof options === 'string' ? JSON.stringify(options) : Array.isArray(options) ? 'an array' : String(options);
    throw new TypeError(`${where}: options must be an object of named options, got ${given}`);
  }
  if (types === undefined) return;
  for (const [name, value] of Object.entries(options)) {
    if (!Object.hasOwn(types, name)) {
      const names = Object.keys(types);
      const near = nearest(name, names);
      const hint = near.length === 0 ? '' : ` (did you mean ${near.map((known) => `"${known}"`).join(' or ')}?)`;
      const known = names.length === 0 ? 'it takes none' : `the options are ${names.join(', ')}`;
      throw new TypeError(`${where}: unknown option ${JSON.stringify(name)}${hint}; ${known}`);
    }
    const type = types[name];
    if (type !== null && value != null && typeof value !== type) {
      const given = typeof value === 'string' ? JSON.stringify(value) : typeof value;
      throw new TypeError(`${where}: options.${name} must be a ${type}, got ${given}`);
    }
  }
}

/** The names `name` is a slip for, ignoring letter case: at most two letters off, the nearest (`post`: host or port). */
function nearest(name: string, names: readonly string[]): string[] {
  const distances = names.map((known) => distance(name.toLowerCase(), known.toLowerCase()));
  const least = Math.min(...distances);
  return least > 2 ? [] : names.filter((_, i) => distances[i] === least);
}

/** The edit distance between two strings, one row at a time. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * Why `app` cannot be an NGI application, or undefined when it can be: not a function, an
 * Express app, which is a function too but fails on every request (it calls `res.setHeader` on
 * the `startResponse` it gets), or a Koa app, a Fastify instance or an object with `fetch()`,
 * each with the adapter that wraps it. For the check every function taking an application makes.
 */
export function notAnApplication(app: unknown): string | undefined {
  const request = requestKind(app);
  // `app.use(toExpress)`, `createServer(toNodeListener)`: the adapter itself got a request.
  if (request !== undefined) return `got ${request}: the function was itself given as the request handler; give what it returns instead (createServer(toNodeListener(app)), app.use(toExpress(app)))`;
  const named = app as { handle?: unknown; set?: unknown; use?: unknown; callback?: unknown; inject?: unknown; fetch?: unknown } | null | undefined;
  if (typeof app === 'function') {
    if (typeof named!.handle === 'function' && typeof named!.set === 'function' && typeof named!.use === 'function') {
      return 'got an Express app: wrap it, fromExpress(app) from @ngi/express';
    }
    // Called without `new`, a class throws on every request.
    if (/^class\b/.test(Function.prototype.toString.call(app))) return 'got a class: an application is a function, called without new';
    return undefined;
  }
  if (typeof named?.inject === 'function') return 'got a Fastify instance: wrap it, fromFastify(app) from @ngi/fastify';
  if (typeof named?.callback === 'function') return 'got a Koa app: wrap it, fromKoa(app) from @ngi/koa';
  if (typeof named?.fetch === 'function') return 'got an object with fetch(): wrap its handler, fromFetch(app.fetch) from @ngi/fetch';
  return `got ${app === null ? 'null' : typeof app}`;
}

/** What a framework hands a request handler, named, when `value` is one: a Node request, a Koa `ctx`, a fetch `Request`. */
function requestKind(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if ('socket' in value && 'httpVersion' in value) return 'a Node request (IncomingMessage)';
  if ('req' in value && 'res' in value && 'app' in value) return 'a Koa context';
  if ('req' in value && 'env' in value && typeof (value as { json?: unknown }).json === 'function') return 'a Hono context';
  if (value instanceof Request) return 'a fetch Request';
  return undefined;
}

/** The names `wronglyCalled` has logged: once each, not once per request. */
const loggedWrongCalls = new Set<string>();

/**
 * For an application NGI made (`fromExpress(app)`, `mount(…)`) that was called otherwise than
 * as one (no environ, or no `startResponse`): given to `createServer`, `app.use`, `koa.use` or
 * a Hono route directly. A TypeError naming the mistake; thrown, except where the caller is Node's
 * server, whose listener throwing would end the process: there it is logged (once per `what`) and answered 500.
 */
export function wronglyCalled(what: string, first: unknown, second: unknown): [] {
  const kind = requestKind(first) ?? `(${typeof first}, ${typeof second})`;
  const error = new TypeError(
    `${what} is an NGI application, (environ, startResponse) => body, but was called with ${kind}: ` +
      'serve it with serve(app) or createServer(toNodeListener(app)) from @ngi/node, or mount it with toExpress, toKoa, fastifyNgi or toFetch',
  );
  const res = second as { writeHead?: unknown; end?: unknown; headersSent?: unknown } | null;
  // Express middleware gets (req, res, next) and Express catches the throw (`req.next` is its mark);
  // only Node's own server, (req, res), dies of it.
  const middleware = typeof (first as { next?: unknown } | null)?.next === 'function';
  if (middleware || typeof res?.writeHead !== 'function' || typeof res.end !== 'function' || res.headersSent !== false) throw error;
  if (!loggedWrongCalls.has(what)) console.error(error);
  loggedWrongCalls.add(what);
  const node = res as { writeHead(status: number, headers: Record<string, string>): void; end(body: string): void };
  node.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  node.end(error.message);
  return [];
}

/** Formats an error for `ngi.errors`: its stack when there is one. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error);
}
