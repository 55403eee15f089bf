import { IncomingMessage, ServerResponse } from 'node:http';
import { checkOptions, isThenable, wronglyCalled, type Application, type Environ } from '@ngi/core';
import { markWrapped } from './_direct.ts';
import { Exchange } from './_exchange.ts';
import { completeIncoming, type NgiIncomingMessage } from './_incoming.ts';
import { EMPTY_INPUT } from './_input.ts';

export { environSymbol, baseUrlSymbol, type NgiIncomingMessage } from './_incoming.ts';

/**
 * A Node request listener: an Express or Connect app, `koaApp.callback()`, Fastify's
 * `fastify.routing`, a server's 'request' listener, or a plain `(req, res) => {}`.
 * A returned promise is watched for rejection.
 */
export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/** Options of {@link fromNodeListener}. */
export interface FromNodeListenerOptions {
  /**
   * Called with the request and response before the listener runs: where a framework adapter
   * sets its own notion of the mount point from `req[baseUrlSymbol]` and `environ.SCRIPT_NAME`
   * (Express: `req.baseUrl`, `req.originalUrl = req[baseUrlSymbol] + req.url`).
   */
  prepare?: ((req: NgiIncomingMessage, res: ServerResponse, environ: Environ) => void) | undefined;
  /**
   * The same listener in Connect's form, `(req, res, next)`, calling `next()` for a request it
   * does not answer (an Express app's own `next`), or `next(error)`: used when a host framework
   * runs the listener on its own req and res (`directListener`), so a request it passes on goes
   * to the host's next handler instead of the listener's not-found page.
   */
  passOn?: ((req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown) | undefined;
  /**
   * The prototypes the listener gives every request and response (Express: `app.request` and
   * `app.response`), inheriting from `IncomingMessage.prototype` and `ServerResponse.prototype`.
   * The request and response are made with them, so the listener finds them in place: an object
   * re-parented per request leaves V8 unable to cache any property access on it.
   * @default the listener's own `request` and `response`, when they are such prototypes (an Express app)
   */
  prototypes?: { request: object; response: object } | undefined;
}

/**
 * Turns a Node `(req, res)` listener into an NGI application. The listener gets a real
 * `http.IncomingMessage` and `http.ServerResponse` on a connection-less socket: `req.url` is
 * the raw target relative to `SCRIPT_NAME` (a `\` as `%5C`), the body streams from `ngi.input`, the head goes
 * to `startResponse` as soon as it is written, and body chunks stream out as the listener
 * writes them, with `res.write()` returning false until the NGI server has taken them.
 */
export function fromNodeListener(listener: NodeRequestListener, options: FromNodeListenerOptions = {}): Application {
  if (typeof listener !== 'function') {
    // A Koa app is an object with a `callback()` that makes its listener.
    const hint = typeof (listener as { callback?: unknown } | null)?.callback === 'function' ? ' (a Koa app: fromKoa(app), or app.callback())' : '';
    throw new TypeError(`fromNodeListener: expected a (req, res) listener, got ${listener === null ? 'null' : typeof listener}${hint}`);
  }
  checkOptions(options, 'fromNodeListener', { prepare: null, passOn: null, prototypes: null });
  for (const name of ['prepare', 'passOn'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TypeError(`fromNodeListener: options.${name} must be a function, got ${typeof options[name]}`);
    }
  }
  const prepare = options.prepare;
  const prototypes = options.prototypes ?? prototypesOf(listener);
  if (prototypes !== undefined) checkPrototypes(prototypes);
  const app: Application = (environ, startResponse) => {
    if (typeof startResponse !== 'function' || typeof environ?.REQUEST_METHOD !== 'string') return wronglyCalled('An application from fromExpress, fromKoa, fromFastify or fromNodeListener', environ, startResponse);
    const exchange = new Exchange(environ, startResponse, prototypes);
    const req = exchange.req;
    const res = exchange.res;
    try {
      if (prepare !== undefined) prepare(req, res, environ);
      const result = listener(req, res);
      // As Node's parser after the listener's first step: a request without a body is complete.
      if (environ['ngi.input'] === EMPTY_INPUT) completeIncoming(req);
      if (isThenable(result)) result.then(undefined, (error: unknown) => exchange.abandon(error));
    } catch (error) {
      exchange.abandon(error);
      if (exchange.write === undefined) throw error; // the server's 500 (§11.1)
    }
    return exchange.response();
  };
  return markWrapped(app, { listener, prepare, passOn: options.passOn, prototypes });
}

/** The prototypes an Express app gives every request and response (`app.request`, `app.response`); undefined for any other listener. */
export function prototypesOf(listener: unknown): { request: object; response: object } | undefined {
  const { request, response } = (listener ?? {}) as { request?: unknown; response?: unknown };
  return isPrototype(request, IncomingMessage) && isPrototype(response, ServerResponse) ? { request, response } : undefined;
}

/**
 * Whether `value` can be the prototype of a `type` instance: it inherits from `type.prototype`
 * and is not itself an instance (a stream has its own `_events`), whose fields every request
 * made from it would inherit.
 */
function isPrototype(value: unknown, type: Function): value is object {
  return value instanceof type && !Object.hasOwn(value, '_events');
}

function checkPrototypes(prototypes: { request: object; response: object }): void {
  if (!isPrototype(prototypes.request, IncomingMessage)) {
    throw new TypeError('fromNodeListener: options.prototypes.request must be an object inheriting from http.IncomingMessage.prototype, not a request');
  }
  if (!isPrototype(prototypes.response, ServerResponse)) {
    throw new TypeError('fromNodeListener: options.prototypes.response must be an object inheriting from http.ServerResponse.prototype, not a response');
  }
}
