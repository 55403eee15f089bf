import { HttpError, checkErrorStream, checkOptions, notAnApplication, runApp, type Application, type ErrorStream, type OptionTypes } from '@ngi/core';
import { wrappedListener, type Wrapped } from './_direct.ts';
import type { NodeRequest, NodeResponse } from './_environ.ts';
import { environFrom, type EnvironOptions } from './_environ-from.ts';
import { EMPTY_INPUT } from './_input.ts';
import { passThrough } from './_pass-through.ts';
import { NodeSink, type NodeSinkOptions } from './node-sink.ts';
import { stderrErrors } from './node-environ.ts';

/** Options of {@link toNodeListener}. */
export interface ToNodeListenerOptions {
  /**
   * Where `ngi.errors` writes.
   * @default process.stderr
   */
  errors?: ErrorStream | undefined;
  /**
   * The most bytes of an unread request body drained after the response so the
   * connection can be reused (§12.3); past it the connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number | undefined;
  /**
   * `ngi.multiprocess`: whether other processes serve the same application.
   * @default false
   */
  multiprocess?: boolean | undefined;
  /**
   * The largest request body accepted, in bytes: a larger Content-Length is answered 413
   * without calling the application; a chunked body fails with a 413 once it passes it.
   * @default Infinity
   */
  maxBodySize?: number | undefined;
}

/** A `node:http`, `node:https` or `node:http2` (compatibility API) request listener. */
/** The options of {@link toNodeListener}, which `serve` takes too. */
export const LISTENER_OPTIONS: OptionTypes = { errors: null, drainLimit: null, multiprocess: 'boolean', maxBodySize: null };

export type NodeListener = (req: NodeRequest, res: NodeResponse) => void;

/**
 * Serves an NGI application from Node's `(req, res)`; the server side of the contract is
 * `runApp`'s. `toNodeListener(fromNodeListener(listener))` hands Node's own req and res to
 * the listener (HTTP/1); put any middleware in between, or set `maxBodySize`, to run the full
 * conversion.
 */
export function toNodeListener(app: Application, options: ToNodeListenerOptions = {}): NodeListener {
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`toNodeListener: expected an NGI application (a function), ${why}`);
  checkOptions(options, 'toNodeListener', LISTENER_OPTIONS);
  checkErrorStream(options.errors, 'toNodeListener');
  const drainLimit = options.drainLimit ?? 1024 * 1024;
  const maxBodySize = options.maxBodySize ?? Infinity;
  for (const [name, value] of [['drainLimit', drainLimit], ['maxBodySize', maxBodySize]] as const) {
    if (!(value >= 0)) throw new RangeError(`toNodeListener: options.${name} must be a number of bytes, 0 or more, got ${String(value)}`);
  }
  const environOptions: EnvironOptions = {
    errors: options.errors ?? stderrErrors,
    multiprocess: options.multiprocess ?? false,
    maxBodySize,
  };
  // One options object per kind of request, not one per request.
  const withBody: NodeSinkOptions = { drainLimit, hasBody: true };
  const withoutBody: NodeSinkOptions = { drainLimit, hasBody: false };
  const convert: NodeListener = (req, res) => {
    let environ;
    try {
      environ = environFrom(req, res, environOptions);
    } catch (error) {
      return sendError(res, error);
    }
    void runApp(app, environ, new NodeSink(req, res, environ['ngi.input'] === EMPTY_INPUT ? withoutBody : withBody));
  };
  const wrapped = handedThrough(app, options);
  return wrapped === undefined ? convert : passThrough(wrapped, convert, environOptions, drainLimit);
}

/** The listener `toNodeListener(app, options)` hands Node's own req and res to, when it does. */
export function handedThrough(app: Application, options: ToNodeListenerOptions): Wrapped | undefined {
  // A body limit is the server's to keep, so it rules out handing the request through.
  return (options.maxBodySize ?? Infinity) === Infinity ? wrappedListener(app) : undefined;
}

function sendError(res: NodeResponse, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500;
  // The request body is not read: reading a refused upload to keep the connection is waste.
  if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
  const message = error instanceof HttpError ? error.message : 'Internal Server Error';
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message) });
  res.end(message);
}
