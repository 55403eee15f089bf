import { checkErrorStream, checkOptions, notAnApplication, runApp, type Application, type Environ, type ErrorStream } from '@ngi/core';
import {
  NodeSink,
  directListener,
  hasRequestBody,
  parsedBodyInput,
  type ParsedBodyFailure,
  type ParsedBodyMode,
  type ParsedBodyOptions,
} from '@ngi/node';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { environOf, redirectOf, type ExpressRequest } from './_environ.ts';
import { ExpressSink } from './_sink.ts';

export type { ParsedBodyMode } from '@ngi/node';

/** Options of {@link toExpress}. */
export interface ToExpressOptions {
  /**
   * Where `ngi.errors` writes.
   * @default the NGI server's inside an app served with `fromExpress`, else process.stderr
   */
  errors?: ErrorStream | undefined;
  /**
   * Whether a `404` with `x-cascade: pass` from the application calls `next()`, so later Express
   * routes still run (§14.1). It never does once the application has read the request body.
   * @default true
   */
  fallthrough?: boolean | undefined;
  /**
   * What the application reads from `ngi.input` when an earlier middleware (`express.json()`,
   * `urlencoded()`, `text()`, `raw()`) already consumed the request body: `"serialize"` hands
   * over `req.rawBody` if a parser's `verify` kept it, else `req.body` as bytes again (Buffer,
   * string, JSON or form object); `"error"` makes reading the body throw.
   * @default "serialize"
   */
  parsedBody?: ParsedBodyMode | undefined;
  /**
   * The most bytes of an unread request body drained after the response so the connection can
   * be reused (§12.3); past it the connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number | undefined;
  /**
   * `ngi.multiprocess`: whether other processes serve the same application.
   * @default the NGI server's inside an app served with `fromExpress`, else false
   */
  multiprocess?: boolean | undefined;
}

/**
 * An Express handler that serves an NGI application: `server.use('/legacy', toExpress(app))`.
 * The prefix Express matched (`req.baseUrl`) is `SCRIPT_NAME` and the rest `PATH_INFO`, at the
 * root, under a path or inside a Router. Headers earlier middleware set stay on the response;
 * a body they parsed is handed over. A path Express would route otherwise than the application
 * (not in normal form: `/x/../admin`, `/%61dmin`, `/admin%2Fx`) is redirected to its normal form
 * with a 308 (§14.2). A `404` with `x-cascade: pass` calls `next()`, an error
 * before the head `next(err)`; the response streams with backpressure, a client abort fires
 * `ngi.signal`, and the body's `close()` runs once, as under `toNodeListener`.
 */
export function toExpress(app: Application, options: ToExpressOptions = {}): RequestHandler {
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`toExpress: app must be an NGI application (environ, startResponse) => body, ${why}`);
  checkOptions(options, 'toExpress', { errors: null, fallthrough: 'boolean', parsedBody: null, drainLimit: null, multiprocess: 'boolean' });
  checkErrorStream(options.errors, 'toExpress');
  // Left undefined, an Express app served with fromExpress passes on its NGI server's (nodeEnviron).
  const settings = { errors: options.errors, multiprocess: options.multiprocess };
  const fallthrough = options.fallthrough ?? true;
  const drainLimit = options.drainLimit ?? 1024 * 1024;
  const mode = options.parsedBody ?? 'serialize';
  if (mode !== 'serialize' && mode !== 'error') {
    throw new TypeError(`toExpress: parsedBody must be "serialize" or "error", got ${JSON.stringify(mode)}`);
  }
  if (!(drainLimit >= 0)) throw new TypeError(`toExpress: drainLimit must be a number of bytes, got ${String(drainLimit)}`);
  const parsed: ParsedBodyOptions = { mode, message: consumedMessage };
  // A listener (fromExpress, fromNodeListener…) gets the raw path in `req.url` and routes on it
  // as Express does: a `%2F` is data inside a segment to both, and is left as sent.
  const keepSlash = directListener(app) !== undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(new Error('toExpress: an earlier handler already sent the response head'));
      return;
    }
    let environ: Environ;
    try {
      const location = redirectOf(req, keepSlash);
      if (location !== undefined) {
        res.redirect(308, location); // the method and body stay: Express routes the request again
        return;
      }
      environ = environOf(req, res, settings);
    } catch (error) {
      next(error); // a path that cannot be decoded: an HttpError 400 for Express to render (§3.3)
      return;
    }
    const hasBody = hasRequestBody(environ);
    const sink = new ExpressSink(next, fallthrough, new NodeSink(req, res, { drainLimit, hasBody }), res);
    if (hasBody) environ['ngi.input'] = inputOf(req, environ, sink, parsed);
    void runApp(app, environ, sink);
  };
}

/**
 * The request body: what a middleware that already read the stream left in `req.body` or
 * `req.rawBody` (`parsedBodyInput`), or the stream itself, noting that the application started
 * reading it (§14.1).
 */
function inputOf(req: ExpressRequest, environ: Environ, sink: ExpressSink, parsed: ParsedBodyOptions): AsyncIterable<Uint8Array> {
  if (req.readableDidRead || req.readableEnded) return parsedBodyInput(environ, req, parsed);
  const input = environ['ngi.input'];
  return {
    [Symbol.asyncIterator]() {
      sink.inputUsed = true;
      return input[Symbol.asyncIterator]();
    },
  };
}

function consumedMessage(failure: ParsedBodyFailure, kind: string): string {
  const why =
    failure === 'refused'
      ? 'the parsedBody option is "error"'
      : failure === 'missing'
        ? 'left no req.body'
        : `left a req.body this adapter cannot serialize (${kind})`;
  return (
    `toExpress: an earlier middleware already read the request body and ${why}; mount the application before ` +
    "the body parser, or keep the raw bytes as req.rawBody in the parser's verify option (body-parser's; a multipart parser such as multer has none)"
  );
}
