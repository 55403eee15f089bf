import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { checkOptions, type Application } from '@ngi/core';
import { baseUrlSymbol, environSymbol, fromNodeListener, type NgiIncomingMessage } from '@ngi/node';

/** What `fromFastify` needs of a Fastify instance (an HTTP/1 one): its request handler and `ready()`. */
export interface FastifyLike {
  /** Fastify's request handler, the listener its own server runs. */
  routing(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void;
  /** Loads the plugins; called once, on the first request. */
  ready(): PromiseLike<unknown>;
  /** Fastify's options; `connectionTimeout` applies to every request's connection. */
  readonly initialConfig?: { readonly connectionTimeout?: number };
}

/**
 * Turns a Fastify instance into an NGI application. Requests run Fastify's full lifecycle —
 * hooks, schemas, content-type parsers, `reply.send()` of streams and buffers, the not-found
 * and error handlers — through its own request handler (`fastify.routing`) on real
 * `IncomingMessage`/`ServerResponse` objects, not through `inject()`, which buffers: the body
 * streams in from `ngi.input`, the response streams out as Fastify writes it. `request.ip`,
 * `request.protocol` and `request.hostname` come from the environ. `fastify.ready()` is called
 * once, on the first request, which waits for it. Under a mount, `request.url` is relative to
 * `SCRIPT_NAME` and `request.originalUrl` is the full path. `connectionTimeout` hangs up an idle
 * request and runs `onTimeout` hooks, as Fastify's own server does.
 */
export function fromFastify(fastify: FastifyLike, options: Record<string, never> = {}): Application {
  if (typeof fastify?.routing !== 'function' || typeof fastify.ready !== 'function') {
    throw new TypeError('fromFastify: expected a Fastify instance (with routing and ready)');
  }
  // `{ cascade: true }`, as fromKoa takes, would do nothing: a Fastify 404 is passed on by its not-found handler (README).
  checkOptions(options, 'fromFastify', {});
  const routing = fastify.routing.bind(fastify);
  // What Fastify's own server is given with server.setTimeout(), which its onTimeout hooks wait on.
  const timeout = fastify.initialConfig?.connectionTimeout ?? 0;
  let ready: Promise<unknown> | undefined;
  let started = false;
  const start = (): Promise<unknown> =>
    (ready ??= Promise.resolve(fastify.ready()).then(
      () => (started = true),
      (error: unknown) => {
        const why = error instanceof Error ? error.message : String(error);
        throw new Error(`fromFastify: the Fastify instance failed to start: ${why}`, { cause: error });
      },
    ));
  return fromNodeListener((req, res) => {
    const ngi = req as Partial<NgiIncomingMessage>;
    const base = ngi[baseUrlSymbol];
    // Fastify reads originalUrl as the URL before any rewrite; under a mount that is the full
    // path. At the mount point itself (PATH_INFO "") `req.url` is "/" but the client sent none.
    if (base) {
      const url = req.url!;
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = ngi[environSymbol]?.PATH_INFO === '' ? base + url.slice(1) : base + url;
    }
    // Once idle that long, the connection is hung up (unless `req` or `res` listens for
    // 'timeout') and Fastify's onTimeout hooks, its 'timeout' listener on the socket, run.
    if (timeout > 0) req.socket.setTimeout(timeout);
    if (started) return routing(req, res);
    return start().then(() => routing(req, res));
  });
}
