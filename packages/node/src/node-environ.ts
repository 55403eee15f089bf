import type { Environ, ErrorStream } from '@ngi/core';
import { EMPTY_INPUT, environFrom, type NodeRequest, type NodeResponse } from './_environ.ts';

export interface NodeEnvironOptions {
  /**
   * Where `ngi.errors` writes.
   * @default process.stderr
   */
  errors?: ErrorStream;
  /**
   * `ngi.multiprocess`.
   * @default false
   */
  multiprocess?: boolean;
  /**
   * The largest request body accepted: a larger Content-Length throws an `HttpError` 413,
   * a chunked body fails with one once it passes the limit.
   * @default Infinity
   */
  maxBodySize?: number;
  /**
   * The full request target (path and query, as received) when a framework has cut
   * `req.url` down to its mount point, as Express does (`req.originalUrl`).
   * @default req.url
   */
  target?: string;
  /**
   * The decoded mount prefix that becomes `SCRIPT_NAME`; `PATH_INFO` is the rest (§3.4).
   * @default ""
   */
  scriptName?: string;
}

/** `ngi.errors` when none is given: the process's stderr. */
export const stderrErrors: ErrorStream = {
  write: (message) => void process.stderr.write(message),
  flush() {},
};

/**
 * The environ for a Node request, as `toNodeListener` builds it (§2–§5): for adapters that
 * run a callable inside a framework (Express, Koa, Fastify) and send the response their way.
 * `ngi.signal` is created on first read and aborts when `res` closes unfinished. Throws an
 * `HttpError` 400 for a malformed path and 413 for a body past `maxBodySize`.
 */
export function nodeEnviron(req: NodeRequest, res: NodeResponse, options: NodeEnvironOptions = {}): Environ {
  return environFrom(req, res, {
    errors: options.errors ?? stderrErrors,
    multiprocess: options.multiprocess ?? false,
    maxBodySize: options.maxBodySize ?? Infinity,
    target: options.target,
    scriptName: options.scriptName,
  });
}

/** Whether an environ's request has a body to read (its `ngi.input` is not the empty one). */
export function hasRequestBody(environ: Environ): boolean {
  return environ['ngi.input'] !== EMPTY_INPUT;
}
