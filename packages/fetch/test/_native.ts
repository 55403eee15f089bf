import type { RequestListener } from 'node:http';
import { getRequestListener } from '@hono/node-server';

/**
 * A fetch handler served natively by @hono/node-server, with the global `Request` and
 * `Response` left alone: its default replaces them (@hono/node-server#154), which would
 * change what every other server in the same process runs on.
 */
export function nativeListener(fetch: (request: Request) => Response | Promise<Response>): RequestListener {
  return getRequestListener(fetch, { overrideGlobalObjects: false }) as RequestListener;
}
