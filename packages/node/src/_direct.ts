import { ServerResponse, type IncomingMessage } from 'node:http';
import { isThenable, type Application, type Environ } from '@ngi/core';
import { baseUrlSymbol, environSymbol, setTarget, type NgiIncomingMessage } from './_incoming.ts';
import { nodeEnviron } from './node-environ.ts';

/** What a `fromNodeListener` application wraps. */
export interface Wrapped {
  listener: (req: IncomingMessage, res: ServerResponse) => unknown;
  prepare: ((req: never, res: ServerResponse, environ: Environ) => void) | undefined;
  passOn: ((req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown) | undefined;
  /** The prototypes the listener gives every request and response (`FromNodeListenerOptions.prototypes`). */
  prototypes: { request: object; response: object } | undefined;
}

const wrapped = new WeakMap<Application, Wrapped>();

/** Records that `app` is `fromNodeListener(listener)`, so `toNodeListener(app)` can pass through. */
export function markWrapped(app: Application, listener: Wrapped): Application {
  wrapped.set(app, listener);
  return app;
}

/** The listener behind a `fromNodeListener` application, if `app` is one. */
export function wrappedListener(app: Application): Wrapped | undefined {
  return wrapped.get(app);
}

/**
 * Runs a wrapped listener on a host framework's own request and response, mounted where
 * `environ` says (`SCRIPT_NAME`, `ngi.raw_path`); without one, at the root with `req.url` as it
 * is, which spares building an environ per request. `next` is called
 * when the listener did not answer: with nothing when it passed the request on (Connect's
 * `next()`), with the error when it failed. Returns false, having run nothing, when `res` is
 * not an HTTP/1 `ServerResponse` (the listener expects one): the host converts instead.
 */
export type DirectListener = (req: IncomingMessage, res: ServerResponse, environ: Environ | undefined, next: (error?: unknown) => void) => boolean;

/**
 * The listener behind `app`, when `app` is `fromNodeListener(listener)` or an adapter built on
 * it (`fromExpress`); in its Connect form (`passOn`) unless `passOn` is false, when the listener
 * answers every request itself, to run on a host framework's own `req` and `res` (`toKoa` and
 * `fastifyNgi` with `direct`), as `toNodeListener` does with nothing in between. It is what
 * koa-connect and @fastify/express do, with the mount point kept: `req.url` is the target
 * relative to the environ's `SCRIPT_NAME` and `req[baseUrlSymbol]` the prefix, both restored
 * when the response closes or the request is passed on; passed on, the prototypes a framework
 * gave `req` and `res`, the `req.baseUrl` and `req.originalUrl` it set and the headers the
 * listener set are undone too. The response bypasses the host's response handling: the
 * listener writes to `res` itself.
 */
export function directListener(app: Application, passOn = true): DirectListener | undefined {
  const inner = wrapped.get(app);
  if (inner === undefined) return undefined;
  const { listener, prepare } = inner;
  const connect = passOn ? inner.passOn : undefined;
  return (req, res, environ, next) => {
    if (!(res instanceof ServerResponse)) return false;
    const message = req as NgiIncomingMessage;
    const url = message.url;
    const base = message[baseUrlSymbol];
    const outer = message[environSymbol];
    const requestProto = Object.getPrototypeOf(req) as object;
    const responseProto = Object.getPrototypeOf(res) as object;
    const headers = res.getHeaderNames();
    // What Express sets on the request (and fromFastify `originalUrl`), which the host knows nothing of.
    const { baseUrl, originalUrl } = req as Framed;
    const putBack = (): void => void Object.assign(message, { url, [baseUrlSymbol]: base, [environSymbol]: outer });
    const restore = (error?: unknown): void => {
      // Connect's `next`: a falsy value is no error (Express's router ends with `next(null)` for a thrown null).
      if (!error) error = undefined;
      // Express set its own prototypes on req and res (app.handle); the host's next handler gets them back.
      Object.setPrototypeOf(req, requestProto);
      Object.setPrototypeOf(res, responseProto);
      if (error === undefined && res.headersSent) {
        // It answered, or began to, and passed the request on all the same (`res.json(x); next()`,
        // which Express forgives): no one else may answer, and a response begun cannot be completed.
        putBack();
        if (!res.writableEnded) res.destroy();
        return;
      }
      // Nor are headers the listener set before passing on (Express's X-Powered-By) the next handler's.
      if (!res.headersSent) for (const name of res.getHeaderNames()) if (!headers.includes(name)) res.removeHeader(name);
      putBack();
      // The host's next handler gets the request as it was: a mounted app's `req.baseUrl` would
      // be an Express app's after it, and the host's own handlers never had either field.
      putField(req as Framed, 'baseUrl', baseUrl);
      putField(req as Framed, 'originalUrl', originalUrl);
      next(error);
    };
    if (environ === undefined && prepare !== undefined) environ = nodeEnviron(req, res);
    if (environ !== undefined) {
      // A request from fromNodeListener reads its body through the environ it carries: the
      // outer one's input, not one reading the request itself.
      if (outer !== undefined) environ['ngi.input'] = outer['ngi.input'];
      setTarget(message, environ);
      message[environSymbol] = environ;
      // Answered, the request goes back to the host's hooks and loggers as they passed it,
      // before those that run on 'finish' (Fastify's onResponse), or on 'close' if it never finishes.
      res.prependOnceListener('finish', putBack);
      res.once('close', putBack);
    }
    try {
      if (prepare !== undefined) prepare(req as never, res, environ!);
      const result = connect !== undefined ? connect(req, res, restore) : listener(req, res);
      if (isThenable(result)) result.then(undefined, (error: unknown) => restore(thrown(error)));
    } catch (error) {
      restore(thrown(error));
    }
    return true;
  };
}

/**
 * What the listener threw or rejected with, for the host: a falsy value, which `next` takes for
 * none (and Koa ignores: `ctx.onerror(null)`), in an Error naming it.
 */
function thrown(error: unknown): unknown {
  if (error) return error;
  const what = typeof error === 'string' ? JSON.stringify(error) : String(error);
  return new Error(`the listener threw ${what}`, { cause: error });
}

/** The fields Connect-style frameworks add to a request. */
interface Framed extends IncomingMessage {
  baseUrl?: string | undefined;
  originalUrl?: string | undefined;
}

/** Gives `req` back the value a field had, or takes it away if it had none. */
function putField(req: Framed, name: 'baseUrl' | 'originalUrl', value: string | undefined): void {
  if (value !== undefined) req[name] = value;
  else if (Object.hasOwn(req, name)) delete req[name];
}
