import type { Environ, ErrorStream } from '@ngi/core';
import { setSignalSource, type NodeRequest, type NodeResponse, type SignalSource } from './_environ.ts';
import { environFrom } from './_environ-from.ts';
import { baseUrlSymbol, environSymbol, serverSymbol, type NgiIncomingMessage, type ServerSettings } from './_incoming.ts';
import { EMPTY_INPUT } from './_input.ts';

/** Options of {@link nodeEnviron}. */
export interface NodeEnvironOptions {
  /**
   * Where `ngi.errors` writes.
   * @default the NGI server's under `fromNodeListener` (the outer environ's, or that of the server
   * handing Node's own request through), else process.stderr
   */
  errors?: ErrorStream | undefined;
  /**
   * `ngi.multiprocess`.
   * @default the NGI server's under `fromNodeListener`, as `errors`, else false
   */
  multiprocess?: boolean | undefined;
  /**
   * The largest request body accepted: a larger Content-Length throws an `HttpError` 413,
   * a chunked body fails with one once it passes the limit.
   * @default Infinity
   */
  maxBodySize?: number | undefined;
  /**
   * The full request target (path and query, as received) when a framework has cut
   * `req.url` down to its mount point, as Express does (`req.originalUrl`). Under
   * `fromNodeListener` it starts with the outer mount point's raw prefix, `req[baseUrlSymbol]`.
   * @default req.url, after `req[baseUrlSymbol]` under `fromNodeListener`
   */
  target?: string | undefined;
  /**
   * The decoded mount prefix that becomes `SCRIPT_NAME`; `PATH_INFO` is the rest of the
   * target's path (§3.4). Under `fromNodeListener` it starts with the outer `SCRIPT_NAME`.
   * @default "", or the outer environ's SCRIPT_NAME under `fromNodeListener`
   */
  scriptName?: string | undefined;
  /**
   * The request headers, when a framework keeps them elsewhere than `req.headers`: Fastify's
   * `request.headers`, which adds those a hook set with `request.headers = {…}`.
   * @default req.headers
   */
  headers?: NodeRequest['headers'] | undefined;
  /**
   * Where `ngi.signal` comes from: its `signal` is read once, when the application first reads
   * `ngi.signal`. For an adapter whose response can also end early in a way `res` does not show
   * (a framework dropping the body it was handed); an object, such as the adapter's per-request
   * state with a `signal` getter, so no closure is made per request.
   * @default a signal that aborts when `res` closes before the response finished
   */
  signalSource?: SignalSource | undefined;
}

/** `ngi.errors` when none is given: the process's stderr. */
export const stderrErrors: ErrorStream = {
  write: (message) => void process.stderr.write(message),
  flush() {},
};

/**
 * The environ for a Node request, as `toNodeListener` builds it (§2–§5): for adapters that
 * run a callable inside a framework (Express, Koa, Fastify) and send the response their way.
 * The `HTTP_*` keys come from `req.headers` as middleware before left them (added, changed or
 * removed), as `REQUEST_METHOD` comes from `req.method`.
 * `ngi.signal` is created on first read and aborts when `res` closes unfinished. Throws an
 * `HttpError` 400 for a malformed path and 413 for a body past `maxBodySize`.
 *
 * A request from `fromNodeListener` carries the environ of the NGI server outside
 * (`req[environSymbol]`), and its `req.url` is relative to that environ's mount point. The new
 * environ continues it: `ngi.raw_path` is the outer one (§4.7), `ngi.errors` and
 * `ngi.multiprocess` carry on unless given, and `target` and `scriptName` count from the
 * server's root. A framework that saw only `req.url` (Koa) passes `req[baseUrlSymbol]` + its
 * original URL; one its `from*` adapter told about the prefix (Express's `req.originalUrl` and
 * `req.baseUrl` under `fromExpress`) passes what it has. Node's own request, which
 * `toNodeListener` hands straight to the listener, carries no environ, but `ngi.errors` and
 * `ngi.multiprocess` carry on from its server all the same.
 */
export function nodeEnviron(req: NodeRequest, res: NodeResponse, options: NodeEnvironOptions = {}): Environ {
  const outer = (req as Partial<NgiIncomingMessage>)[environSymbol];
  // Node's own request, handed through by toNodeListener, carries the server's settings instead.
  const server = outer === undefined ? (req as { [serverSymbol]?: ServerSettings })[serverSymbol] : undefined;
  const environ = environFrom(req, res, {
    errors: options.errors ?? outer?.['ngi.errors'] ?? server?.errors ?? stderrErrors,
    multiprocess: options.multiprocess ?? outer?.['ngi.multiprocess'] ?? server?.multiprocess ?? false,
    maxBodySize: options.maxBodySize ?? Infinity,
    target: options.target ?? (outer === undefined ? undefined : targetFromRoot(req as NgiIncomingMessage)),
    scriptName: options.scriptName ?? outer?.SCRIPT_NAME,
    // A framework's middleware may have changed them (an authentication step dropping the credential).
    headers: options.headers ?? req.headers,
  });
  if (outer !== undefined) {
    environ['ngi.raw_path'] = outer['ngi.raw_path'];
    // Without a Host, the server's address (§3.7): the outer server's, which the request's
    // own socket (made for it) does not have.
    if (environ.HTTP_HOST === undefined) {
      environ.SERVER_NAME = outer.SERVER_NAME;
      environ.SERVER_PORT = outer.SERVER_PORT;
    }
  }
  if (options.signalSource !== undefined) setSignalSource(environ, options.signalSource);
  return environ;
}

/** The target of a `fromNodeListener` request from the server's root: `req.url` is relative to the mount point. */
function targetFromRoot(req: NgiIncomingMessage): string {
  return (req[baseUrlSymbol] ?? '') + (req.url ?? '/');
}

/** Whether an environ's request has a body to read (its `ngi.input` is not the empty one). */
export function hasRequestBody(environ: Environ): boolean {
  return environ['ngi.input'] !== EMPTY_INPUT;
}
