import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, addRequestHeaders, checkOptions, isThenable, type Application, type Chunk, type Environ, type HeaderList, type Middleware, type ResponseBody, type StartResponse } from '@ngi/core';
import { toNodeListener, type NodeListener, type ToNodeListenerOptions } from '@ngi/node';
import { UsageError } from './_errors.ts';
import { clfDate, escape, type Exchange } from './_log-line.ts';

/** Named formats: Apache's, as gunicorn writes them. */
export const LOG_FORMATS: Readonly<Record<string, string>> = {
  combined: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
  common: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s',
};

export interface AccessLogOptions {
  /**
   * `combined`, `common`, or a format of gunicorn's tokens: `%(h)s` remote address, `%(l)s`
   * `-`, `%(u)s` the user of Basic authentication (else `-`), `%(t)s` time, `%(r)s` request
   * line, `%(m)s` method, `%(U)s` path, `%(q)s` query, `%(H)s` protocol, `%(s)s` status, `%(b)s` body bytes (`-` for none),
   * `%(B)s` body bytes, `%(f)s` referer, `%(a)s` user agent, `%(T)s`/`%(M)s`/`%(D)s`/`%(L)s`
   * duration in s/ms/µs/decimal s, `%(p)s` process id, `%({name}i)s` request header,
   * `%({name}o)s` response header.
   * @default "combined"
   */
  format?: string | undefined;
  /**
   * Receives each line, newline included.
   * @default writes to process.stdout
   */
  write?: ((line: string) => void) | undefined;
}

type Field = (exchange: Exchange) => string;

const FIELDS: Record<string, Field> = {
  h: (x) => x.environ.REMOTE_ADDR ?? '-',
  l: () => '-',
  u: (x) => escape(basicUser(x.environ.HTTP_AUTHORIZATION) ?? '-'),
  t: (x) => `[${clfDate(x.startedAt)}]`,
  r: (x) => escape(`${x.environ.REQUEST_METHOD} ${target(x.environ)} ${x.environ.SERVER_PROTOCOL}`),
  m: (x) => escape(x.environ.REQUEST_METHOD),
  U: (x) => escape(x.environ['ngi.raw_path']),
  q: (x) => escape(x.environ.QUERY_STRING),
  H: (x) => x.environ.SERVER_PROTOCOL,
  s: (x) => x.status.slice(0, 3),
  B: (x) => String(x.bytes),
  b: (x) => (x.bytes === 0 ? '-' : String(x.bytes)),
  f: (x) => escape(x.environ.HTTP_REFERER ?? '-'),
  a: (x) => escape(x.environ.HTTP_USER_AGENT ?? '-'),
  T: (x) => String(Math.floor(x.duration() / 1000)),
  M: (x) => String(Math.round(x.duration())),
  D: (x) => String(Math.round(x.duration() * 1000)),
  L: (x) => (x.duration() / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
};

/**
 * Compiles a format (or a named one) into a function of an exchange; a UsageError names an
 * unknown token, or a format that is neither named nor has a token (a misspelt name).
 */
export function compileFormat(format: string): (exchange: Exchange) => string {
  if (typeof format !== 'string') throw new UsageError(`access log format: must be a string or a format's name, got ${typeof format}`);
  // Own keys only: `toString` and `%(constructor)s` are not a format and a token.
  const source = Object.hasOwn(LOG_FORMATS, format) ? LOG_FORMATS[format]! : format;
  const parts: (string | Field)[] = [];
  let last = 0;
  for (const match of source.matchAll(/%\((\{([^}]+)\}([io])|\w+)\)s/g)) {
    parts.push(text(source.slice(last, match.index)));
    last = match.index + match[0].length;
    if (match[2] !== undefined) parts.push(header(match[2].toLowerCase(), match[3] === 'i'));
    else if (Object.hasOwn(FIELDS, match[1]!)) parts.push(FIELDS[match[1]!]!);
    else throw new UsageError(`access log format: unknown token %(${match[1]})s`);
  }
  parts.push(text(source.slice(last)));
  if (parts.length === 1) {
    throw new UsageError(`access log format: ${JSON.stringify(format)} is not one of ${Object.keys(LOG_FORMATS).join(', ')} and has no token like %(h)s`);
  }
  return (exchange) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : part(exchange);
    return line;
  };
}

/** Text between tokens; a `%(` there is a token mistyped, which would be logged as it is. */
function text(part: string): string {
  const start = part.indexOf('%(');
  if (start < 0) return part;
  const token = /^%\([^)]*\)?[a-z]?/i.exec(part.slice(start))![0];
  throw new UsageError(`access log format: cannot read ${JSON.stringify(token)} (tokens look like %(h)s)`);
}

/**
 * Middleware writing one access-log line per request when the response is over (when the
 * server calls the body's `close()`, on every path), with the status and the body bytes
 * the application produced. Bodies are passed through chunk by chunk (§13.3).
 */
export function accessLog(options: AccessLogOptions = {}): Middleware {
  // `accessLog('common')`, as morgan takes its format, would log in the default one.
  if (typeof options === 'string') throw new TypeError(`accessLog: options must be an object: accessLog({ format: ${JSON.stringify(options)} })`);
  checkOptions(options, 'accessLog', { format: null, write: null });
  const format = compileFormat(options.format ?? 'combined');
  // A stream (process.stdout) has no call signature: each line would fail as it is written.
  if (options.write !== undefined && typeof options.write !== 'function') {
    throw new TypeError('accessLog: options.write must be a function (line) => void; for a stream, (line) => stream.write(line)');
  }
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  return (app: Application): Application => (environ, startResponse) => {
    const exchange = new LoggedExchange(environ, () => write(format(exchange) + '\n'));
    let result: ReturnType<Application>;
    try {
      result = app(environ, exchange.wrap(startResponse));
    } catch (error) {
      exchange.failed(error);
      throw error;
    }
    if (!isThenable(result)) return exchange.body(result);
    return Promise.resolve(result).then(
      (body) => exchange.body(body),
      (error: unknown) => {
        exchange.failed(error);
        throw error;
      },
    );
  };
}

/**
 * `toNodeListener(app, options)` that also logs the requests the server answers before the
 * application runs — a 400 for a malformed target or Host, a 413 for a Content-Length past
 * `maxBodySize` — as gunicorn logs its own answers; `app` logs the others (accessLog).
 * runApp calls the application before it returns: one not called by then never is.
 */
export function answersLogged(app: Application, options: ToNodeListenerOptions, log: { format: string; write: (line: string) => void }): NodeListener {
  const format = compileFormat(log.format);
  let called = false;
  const listener = toNodeListener((environ, startResponse) => ((called = true), app(environ, startResponse)), options);
  return (req, res) => {
    called = false;
    const startedAt = Date.now();
    const started = performance.now();
    listener(req, res);
    if (!called) log.write(format(answered(req as IncomingMessage, res as ServerResponse, startedAt, started)) + '\n');
  };
}

/** The record of a request the server answered itself, from what Node parsed of it. */
function answered(req: IncomingMessage, res: ServerResponse, startedAt: number, started: number): Exchange {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: req.method,
    'ngi.raw_path': query < 0 ? url : url.slice(0, query),
    QUERY_STRING: query < 0 ? '' : url.slice(query + 1),
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    REMOTE_ADDR: req.socket.remoteAddress,
  };
  try {
    addRequestHeaders(environ, req.rawHeaders);
  } catch {
    // A second Host (§5.3), which is the 400 logged: the headers before it are kept.
  }
  // Its head went out through writeHead(status, headers), which Node keeps out of getHeaders():
  // the response headers and the size of its short message are not known here.
  return {
    environ: environ as unknown as Environ,
    status: String(res.statusCode),
    headers: [],
    bytes: 0,
    startedAt,
    duration: () => performance.now() - started,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The user name of `Authorization: Basic`, as gunicorn logs it (glogging.py `_get_user`); undefined if there is none. */
function basicUser(authorization: string | undefined): string | undefined {
  const match = authorization === undefined ? null : /^basic\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return undefined;
  let credentials: string;
  try {
    credentials = utf8.decode(Buffer.from(match[1]!, 'base64'));
  } catch {
    return undefined;
  }
  const colon = credentials.indexOf(':');
  return colon < 0 ? undefined : credentials.slice(0, colon);
}

function target(environ: Environ): string {
  return environ.QUERY_STRING === '' ? environ['ngi.raw_path'] : `${environ['ngi.raw_path']}?${environ.QUERY_STRING}`;
}

function header(name: string, request: boolean): Field {
  // Content-Type and Content-Length are kept in CONTENT_TYPE and CONTENT_LENGTH, never as HTTP_* (§5).
  const cgi = name === 'content-type' || name === 'content-length';
  const key = (cgi ? '' : 'HTTP_') + name.toUpperCase().replaceAll('-', '_');
  if (request) return (x) => escape((x.environ[key] as string | undefined) || '-');
  return (x) => escape(x.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v).join(', ') || '-');
}

const encoder = new TextEncoder();
const byteLength = (chunk: unknown): number =>
  typeof chunk === 'string' ? (chunk.length < 64 && /^[\x00-\x7f]*$/.test(chunk) ? chunk.length : encoder.encode(chunk).byteLength) : chunk instanceof Uint8Array ? chunk.byteLength : 0;

/** Whether the server can iterate it (§9.1): not a bare string or Uint8Array, nor null. */
function isBody(body: unknown): body is ResponseBody {
  if ((typeof body !== 'object' && typeof body !== 'function') || body === null || body instanceof Uint8Array) return false;
  return Symbol.iterator in body || Symbol.asyncIterator in body;
}

/** One request's record; logs once, when the body is closed or the application failed. */
class LoggedExchange implements Exchange {
  readonly startedAt = Date.now();
  private readonly started = performance.now();
  status = '500';
  headers: HeaderList = [];
  bytes = 0;
  /** Whether write() was called: it sends the head, even `write('')` (§8.3). */
  private wrote = false;
  private logged = false;

  constructor(
    readonly environ: Environ,
    private readonly flush: () => void,
  ) {}

  duration(): number {
    return performance.now() - this.started;
  }

  wrap(startResponse: StartResponse): StartResponse {
    return (status, headers, error) => {
      // Called first: a call the server refuses (§6.4, §6.6) changes nothing.
      const write = error === undefined ? startResponse(status, headers) : startResponse(status, headers, error);
      this.status = status;
      this.headers = headers;
      return (chunk: Chunk) => {
        this.wrote = true;
        this.bytes += byteLength(chunk);
        return write(chunk);
      };
    };
  }

  failed(error: unknown): void {
    // Before the head the server answers the error itself (§11.1); after, it drops the connection.
    if (!this.wrote && this.bytes === 0) this.status = error instanceof HttpError ? String(error.status) : '500';
    this.log();
  }

  log(): void {
    if (this.logged) return;
    this.logged = true;
    if (this.environ.REQUEST_METHOD === 'HEAD') this.bytes = 0;
    this.flush();
  }

  body(body: ResponseBody): ResponseBody {
    // Not a body (§9.1): the server answers it as an error, and calls its close() if it has one.
    if (!isBody(body)) {
      this.failed(undefined);
      return body;
    }
    const close = body.close;
    const finish = (): void | Promise<void> => {
      this.log();
      if (typeof close === 'function') return close.call(body);
    };
    if (Array.isArray(body)) {
      for (const chunk of body) this.bytes += byteLength(chunk);
      // A copy: the application may return the same array for every request.
      return Object.assign(body.slice(), { close: finish });
    }
    if (Symbol.iterator in body) return { [Symbol.iterator]: () => this.counted((body as Iterable<Chunk>)[Symbol.iterator]()), close: finish };
    return { [Symbol.asyncIterator]: () => this.countedAsync((body as AsyncIterable<Chunk>)[Symbol.asyncIterator]()), close: finish };
  }

  private counted(iterator: Iterator<Chunk>): Iterator<Chunk> {
    return {
      next: () => {
        try {
          const step = iterator.next();
          if (!step.done) this.bytes += byteLength(step.value);
          return step;
        } catch (error) {
          this.failed(error);
          throw error;
        }
      },
      return: (value) => iterator.return?.(value) ?? { done: true, value },
    };
  }

  private countedAsync(iterator: AsyncIterator<Chunk>): AsyncIterator<Chunk> {
    return {
      next: async () => {
        try {
          const step = await iterator.next();
          if (!step.done) this.bytes += byteLength(step.value);
          return step;
        } catch (error) {
          this.failed(error);
          throw error;
        }
      },
      return: async (value) => (await iterator.return?.(value)) ?? { done: true, value },
    };
  }
}
