import { HttpError, canonicalPath, checkErrorStream, checkOptions, isPlainPath, notAnApplication, runApp, splitRawPath, type Application, type Environ, type ErrorStream } from '@ngi/core';
import { FetchSink } from './_sink.ts';
import { environFromRequest, NotMounted } from './_environ.ts';
import { checkedPeer, runtimePeer, type Peer, type PeerOf } from './_peer.ts';

export interface ToFetchOptions {
  /**
   * Where `ngi.errors` writes.
   * @default one `console.error` line per message
   */
  errors?: ErrorStream | undefined;
  /**
   * A path prefix of the request URLs that becomes `SCRIPT_NAME` (`/api` for a handler reached
   * at `/api/...` without the prefix stripped). Requests outside it are answered `404` with
   * `x-cascade: pass` (§14.1).
   * @default ""
   */
  scriptName?: string | undefined;
  /**
   * Finds the client's address and port (`REMOTE_ADDR`, `REMOTE_PORT`, §3.9) from the
   * handler's arguments, `{ address, port? }`, or `undefined` to leave them absent: for a
   * runtime the default does not know, or to read a header your edge sets (`cf-connecting-ip`).
   * @default what the runtime reports: Deno's `info.remoteAddr`, Bun's `server.requestIP(request)`,
   * @hono/node-server's `env.incoming` under Hono, the same in srvx's `request.runtime`; no
   * header is read
   */
  peer?: PeerOf | undefined;
}

/**
 * A fetch handler made by {@link toFetch}; `env` (Workers bindings, Hono's `c.env`, Deno's
 * handler info, Bun's server) is in environ as `fetch.env`.
 */
export type ToFetchHandler = (request: Request, env?: unknown, context?: unknown) => Promise<Response>;

/**
 * Turns an NGI application into a WHATWG fetch handler, for Hono's `mount`, Deno, Bun, Workers
 * or any runtime that speaks `Request => Response`. The Response resolves when the head is
 * sent (§8); its body is a stream the application fills as it is read, so it flows before the
 * application finishes, with backpressure. `close()` runs when the body ends or is cancelled,
 * and a cancelled body or an aborted `request.signal` aborts `ngi.signal` (§12.1).
 */
export function toFetch(app: Application, options: ToFetchOptions = {}): ToFetchHandler {
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`toFetch: expected an NGI application (environ, startResponse) => body, ${why}`);
  checkOptions(options, 'toFetch', { errors: null, scriptName: 'string', peer: null });
  const errors = options.errors;
  checkErrorStream(errors, 'toFetch');
  const scriptName = options.scriptName ?? '';
  if (scriptName !== '' && (!scriptName.startsWith('/') || scriptName.endsWith('/'))) {
    throw new TypeError(`toFetch: scriptName must start with "/" and not end with "/": ${JSON.stringify(scriptName)}`);
  }
  const peerOf = options.peer;
  if (peerOf !== undefined && typeof peerOf !== 'function') throw new TypeError('toFetch: options.peer must be a function (request, env, context) => { address, port? } | undefined');
  return (request, env, context) => {
    const controller = new AbortController();
    const signal = request.signal as AbortSignal | undefined;
    // §4.6: ngi.signal's reason is always an Error, whatever the runtime aborts with.
    const abort = (reason: unknown): void => controller.abort(reason instanceof Error ? reason : new Error('The client went away', { cause: reason }));
    const onAbort = (): void => abort(signal!.reason);
    const sink = new FetchSink(request.method, abort, () => signal?.removeEventListener('abort', onAbort));
    let environ;
    try {
      const peer = (): Peer | undefined => (peerOf === undefined ? runtimePeer(request, env) : checkedPeer(peerOf(request, env, context)));
      environ = environFromRequest(request, { scriptName, signal: controller.signal, errors, env, peer, response: sink });
    } catch (error) {
      const response = refusal(error);
      return response === undefined ? Promise.reject(error) : Promise.resolve(response);
    }
    const location = redirectOf(environ);
    if (location !== undefined) return Promise.resolve(new Response(null, { status: 308, headers: { location } }));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    void runApp(app, environ, sink);
    return sink.response;
  };
}

/**
 * Where a request goes instead of to the application when its path under the mount point is
 * not in normal form (`canonicalPath`, §14.2). A fetch router (Hono's) routes on the URL's path
 * with `%2F` still encoded, and keeps `//`: served, `/admin%2Fx` or `//admin` would reach the
 * application as `/admin/x` past the router's guards on `/admin/*`. Redirected, the router sees
 * it again as the application would. The location is relative, so it keeps the mount prefix
 * as the client sent it, though a router's mount cut it from the URL given here.
 */
function redirectOf(environ: Environ): string | undefined {
  const raw = environ['ngi.raw_path'];
  if (isPlainPath(raw)) return undefined;
  const start = splitRawPath(raw, environ.SCRIPT_NAME, environ.PATH_INFO);
  if (start < 0) return undefined;
  const rest = raw.slice(start);
  const normal = canonicalPath(rest);
  if (normal === undefined) return undefined;
  // Up from the client's last segment to the mount point: one `..` per `/` after the first.
  let up = './';
  for (let i = rest.indexOf('/', 1); i >= 0; i = rest.indexOf('/', i + 1)) up = up === './' ? '../' : `${up}../`;
  return up + normal.slice(1) + (environ.QUERY_STRING === '' ? '' : `?${environ.QUERY_STRING}`);
}

/** What the server answers itself, without calling the application (§3.3, §14.1). */
function refusal(error: unknown): Response | undefined {
  if (error instanceof NotMounted) {
    return new Response('Not Found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-cascade': 'pass' } });
  }
  if (error instanceof HttpError) {
    return new Response(error.message, { status: error.status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  return undefined;
}
