import { createEnviron, parseTarget, type Environ, type EnvironInit, type ErrorStream } from '@ngi/core';
import { sentWithoutBody, type Peer } from './_peer.ts';
import { NgiRequest, baseUrlSymbol, environSymbol } from './_request.ts';
import { requestHref, splitTarget } from './_url.ts';

/** The request URL is outside the `scriptName` the handler was given. */
export class NotMounted extends Error {}

export interface RequestEnvironOptions {
  scriptName: string;
  signal: AbortSignal;
  errors: ErrorStream | undefined;
  env: unknown;
  /** Finds the client as the runtime reports it; not asked for a `Request` made by `fromFetch`, which carries its own. */
  peer: () => Peer | undefined;
  /** The response the application makes: once it is over, reading the body throws (§4.3). */
  response: { readonly over: boolean };
}

const CARRIED = ['ngi.multithread', 'ngi.multiprocess', 'ngi.run_once'] as const;

/**
 * The environ (§2–§5) for a fetch `Request`, built by core's `createEnviron` from the URL, the
 * headers and the body stream. A `Request` that `fromFetch` made carries the environ it came
 * from: the mount prefix, peer address, protocol and error stream are taken back from it, so
 * an application behind `fromFetch` → fetch handler → `toFetch` sees what it would have seen
 * directly. Throws an `HttpError` 400 for a malformed path (§3.3), `NotMounted` outside `scriptName`.
 */
export function environFromRequest(request: Request, options: RequestEnvironOptions): Environ {
  const from = madeFrom(request, options.env);
  const outer = from?.environ;
  let url = request.url;
  const hash = url.indexOf('#');
  if (hash >= 0) url = url.slice(0, hash);
  let scriptName = options.scriptName;
  if (from !== undefined) {
    url = withBase(url, from.base, from.emptyRest);
    scriptName = from.scriptName + scriptName;
  }
  const { path } = parseTarget(url);
  if (scriptName !== '' && path !== scriptName && !path.startsWith(`${scriptName}/`)) throw new NotMounted();
  const extra: Record<string, unknown> = { 'fetch.request': request };
  if (options.env !== undefined) extra['fetch.env'] = options.env;
  const init: EnvironInit = { method: request.method, url, headers: request.headers, scriptName, signal: options.signal, extra };
  if (request.body !== null && (outer !== undefined || !sentWithoutBody(request, options.env))) init.body = inputOf(request, options.signal, options.response);
  const errors = options.errors ?? outer?.['ngi.errors'];
  if (errors !== undefined) init.errors = errors;
  if (outer !== undefined) {
    init.protocol = outer.SERVER_PROTOCOL;
    for (const key of CARRIED) extra[key] = outer[key];
  }
  const peer = outer === undefined ? options.peer() : undefined;
  const remoteAddress = outer === undefined ? peer?.address : outer.REMOTE_ADDR;
  const remotePort = outer === undefined ? peer?.port?.toString() : outer.REMOTE_PORT;
  if (remoteAddress !== undefined) init.remoteAddress = remoteAddress;
  const environ = createEnviron(init);
  // §3.9: where the runtime does not say who the peer is, the keys are absent rather than invented.
  if (remoteAddress === undefined) delete environ.REMOTE_ADDR;
  if (remotePort !== undefined) environ.REMOTE_PORT = remotePort;
  // A body whose Request names no length (one made in-process) is what HTTP/1.1 sends chunked;
  // without either field, body parsers (type-is hasBody) take it for none (srvx web/incoming.ts).
  if (outer === undefined && init.body !== undefined && environ.CONTENT_LENGTH === undefined && environ.HTTP_TRANSFER_ENCODING === undefined) {
    environ.HTTP_TRANSFER_ENCODING = 'chunked';
  }
  return environ;
}

/** The environ a `Request` comes from, and the mount prefix its URL leaves out: raw, and as `SCRIPT_NAME`. */
interface Origin {
  environ: Environ;
  base: string;
  scriptName: string;
  /** The URL's path `/` stands for an empty `PATH_INFO`. */
  emptyRest: boolean;
}

/**
 * Where `request` comes from: the environ of a `Request` `fromFetch` made, or, for one a router
 * made anew from it with its own mount point cut from the path (Hono's `mount`), the environ
 * `fromFetch` gave as `env`, the cut put back into the prefix. Otherwise nothing.
 */
function madeFrom(request: Request, env: unknown): Origin | undefined {
  if (request instanceof NgiRequest) {
    const environ = request[environSymbol];
    return { environ, base: request[baseUrlSymbol], scriptName: environ.SCRIPT_NAME, emptyRest: environ.PATH_INFO === '' };
  }
  if (!isEnviron(env) || request.method.toUpperCase() !== env.REQUEST_METHOD.toUpperCase()) return undefined;
  const target = splitTarget(env);
  // The URL fromFetch gave, and what is left of it: a mount keeps the origin and the query.
  const given = new URL(requestHref(env, target.path));
  const left = new URL(request.url);
  if (left.origin !== given.origin || left.search !== given.search) return undefined;
  const whole = given.pathname;
  const rest = left.pathname;
  const cut = rest === '/' && !whole.endsWith('/') ? whole : cutPrefix(whole, rest);
  if (cut === undefined) return undefined;
  const emptyRest = cut === '' ? env.PATH_INFO === '' : cut === whole;
  return { environ: env, base: target.base + cut, scriptName: env.SCRIPT_NAME + (cut === '' ? '' : parseTarget(cut).path), emptyRest };
}

/**
 * The segments of `whole` before those `rest` ends it with, compared decoded: a router may spell
 * them otherwise (Hono's mount decodes the path and sets it again, `%c3%a9` coming back as
 * `%C3%A9` and `%41` as `A`). Undefined where `rest` does not end `whole`.
 */
function cutPrefix(whole: string, rest: string): string | undefined {
  const all = whole.split('/');
  const tail = rest.split('/');
  const keep = all.length - tail.length;
  if (keep < 0) return undefined;
  for (let i = 1; i < tail.length; i++) if (decoded(all[keep + i]!) !== decoded(tail[i]!)) return undefined;
  return all.slice(0, keep + 1).join('/');
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function isEnviron(env: unknown): env is Environ {
  const environ = env as Partial<Environ> | null;
  return typeof environ === 'object' && environ !== null && Array.isArray(environ['ngi.version']) && typeof environ['ngi.raw_path'] === 'string' && typeof environ.REQUEST_METHOD === 'string';
}

/** Puts the raw mount prefix back in front of the path of `url`. */
function withBase(url: string, base: string, emptyPathInfo: boolean): string {
  if (base === '') return url;
  const start = url.indexOf('/', url.indexOf('//') + 2);
  let rest = url.slice(start);
  // The URL needs a path where PATH_INFO was empty (`/api`, not `/api/`): drop that `/` again.
  if (emptyPathInfo && (rest === '/' || rest.startsWith('/?'))) rest = rest.slice(1);
  return url.slice(0, start) + base + rest;
}

/**
 * `ngi.input` over the request body, pulled one read at a time (§4.3). A body already read
 * or locked by someone else fails loudly: an empty body passed on silently would look complete.
 * Once `signal` (ngi.signal) aborts, a read rejects with its reason (§12.1): a runtime's body
 * stream need not fail when the client goes away, and a read left waiting would never end.
 */
function inputOf(request: Request, signal: AbortSignal, response: { readonly over: boolean }): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      // As on every NGI server: a body begun after the answer is a mistake, not a late read.
      if (response.over) throw new TypeError('§4.3: ngi.input read after the response was over; read the body before answering');
      if (request.bodyUsed) throw new TypeError('toFetch: the request body was already read (Request.bodyUsed), so ngi.input has nothing to give');
      const stream = request.body!;
      if (stream.locked) throw new TypeError('toFetch: the request body stream is locked by another reader');
      const reader = stream.getReader();
      return {
        next: () => abortable(reader.read() as Promise<IteratorResult<Uint8Array>>, signal),
        return() {
          // Left unread, not cancelled: the server that received the request drains it (§12.3).
          reader.releaseLock();
          return Promise.resolve({ done: true, value: undefined });
        },
      };
    },
  };
}

/** `read`, or a rejection with `signal`'s reason as soon as it aborts. */
function abortable<T>(read: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    read.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
