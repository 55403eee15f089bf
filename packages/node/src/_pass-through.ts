import { STATUS_CODES, ServerResponse } from 'node:http';
import { HttpError, describeError, isThenable, parseTarget, type ErrorStream } from '@ngi/core';
import type { Wrapped } from './_direct.ts';
import type { NodeRequest, NodeResponse } from './_environ.ts';
import { environFrom, type EnvironOptions } from './_environ-from.ts';
import { baseUrlSymbol, environSymbol, serverSymbol, type ServerSettings } from './_incoming.ts';
import { drainUnread, dropResponse } from './node-sink.ts';

/**
 * `toNodeListener(fromNodeListener(listener))` with nothing in between: no middleware can
 * change the request or observe the response, so the listener gets Node's own req and res
 * (as srvx hands `runtime.node` through). Over HTTP/2 the conversion still runs, so the
 * listener keeps seeing HTTP/1 objects. Errors keep the server's rules (§11.1, §11.2), and
 * what the listener leaves of a body is drained up to `drainLimit` (§12.3).
 */
export function passThrough(
  wrapped: Wrapped,
  fallback: (req: NodeRequest, res: NodeResponse) => void,
  options: EnvironOptions,
  drainLimit: number,
): (req: NodeRequest, res: NodeResponse) => void {
  const { listener, prepare } = wrapped;
  const errors = options.errors;
  return (req, res) => {
    if (!(res instanceof ServerResponse)) return fallback(req, res);
    // Without an environ on Node's own request, a callable an adapter runs inside still gets
    // the server's ngi.errors and ngi.multiprocess (nodeEnviron): the options, not a copy.
    (req as NodeRequest & { [serverSymbol]: ServerSettings })[serverSymbol] = options;
    try {
      if (prepare !== undefined) {
        const environ = environFrom(req, res, options);
        Object.assign(req, { [environSymbol]: environ, [baseUrlSymbol]: '' });
        prepare(req as never, res, environ);
      } else {
        parseTarget(req.url ?? '/'); // a malformed target is the server's 400 (§3.3)
      }
      // Node would read what the listener leaves of the body to its end, however long.
      drainUnread(req, res, drainLimit);
      const result = listener(req as never, res);
      if (isThenable(result)) result.then(undefined, (error: unknown) => fail(res, errors, error));
    } catch (error) {
      fail(res, errors, error);
    }
  };
}

function fail(res: ServerResponse, errors: ErrorStream, error: unknown): void {
  if (res.writableEnded) {
    // As through the full conversion: the response stands, its bytes may still be on their way.
    errors.write(`fromNodeListener: the listener failed after ending its response: ${describeError(error)}\n`);
    return;
  }
  if (res.headersSent) {
    errors.write(`§11.2: error after the response head was sent; connection dropped: ${describeError(error)}\n`);
    dropResponse(res, error);
    return;
  }
  // The server's answer, not the listener's: none of what it set (cookies, Content-Encoding) goes
  // with it, nor its reason phrase, which Node would keep, and may be what it failed on.
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  const status = error instanceof HttpError ? error.status : 500;
  const message = error instanceof HttpError ? error.message : 'Internal Server Error';
  if (!(error instanceof HttpError)) errors.write(`§11.1: error before the response head was sent; answered 500: ${describeError(error)}\n`);
  res.writeHead(status, STATUS_CODES[status] ?? 'Error', { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message) });
  res.end(message);
}
