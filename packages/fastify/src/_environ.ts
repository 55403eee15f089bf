import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Environ, ErrorStream } from '@ngi/core';
import { baseUrlSymbol, environSymbol, nodeEnviron, type NgiIncomingMessage } from '@ngi/node';
import type { FastifyRequest } from 'fastify';

/** What the environ needs from the plugin's options. */
export interface EnvironSettings {
  /** `ngi.errors`; `undefined` writes to the request's logger. */
  errors: ErrorStream | undefined;
  multiprocess: boolean;
}

/** A request that may come from `fromNodeListener` (the Fastify app is itself a callable). */
export type RawRequest = IncomingMessage & Partial<NgiIncomingMessage>;

/**
 * The environ of §2–§5 for a request Fastify routed to the plugin (`nodeEnviron`, which under
 * `fromFastify` continues the outer environ), whose decoded path divides into the mount point
 * `scriptName` and the rest. `url` is `req.url` with the query where Fastify's router takes it.
 * When the Fastify app is itself a callable, `req.url` is relative to the mount point it was
 * given: target and `SCRIPT_NAME` then start with that mount point.
 * `ngi.input` is the request stream for the caller to replace.
 */
export function environOf(request: FastifyRequest, res: ServerResponse, url: string, scriptName: string, settings: EnvironSettings): Environ {
  const req = request.raw as RawRequest;
  const base = req[baseUrlSymbol];
  const outer = req[environSymbol];
  const environ = nodeEnviron(req, res, {
    // Fastify's request logger by default, even under fromFastify, so diagnostics carry the request id.
    errors: settings.errors ?? new RequestLog(request),
    multiprocess: settings.multiprocess,
    target: (base ?? '') + url,
    scriptName: (outer?.SCRIPT_NAME ?? '') + scriptName,
    // Those a hook set with `request.headers = {…}` are kept apart from the raw request's.
    headers: request.headers,
  });
  environ['fastify.request'] = request;
  return environ;
}

/** `ngi.errors` by default: Fastify's request logger, so diagnostics carry the request id. */
class RequestLog implements ErrorStream {
  constructor(private readonly request: FastifyRequest) {}

  write(message: string): void {
    this.request.log.error(message.endsWith('\n') ? message.slice(0, -1) : message);
  }

  flush(): void {}
}
