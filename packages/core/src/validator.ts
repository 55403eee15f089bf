import { OpenBodies, checkedBody, type BodyScope } from './_validate-body.ts';
import { checkEnviron, checkedErrors, checkedInput } from './_validate-environ.ts';
import { ValidationError, isThenable } from './_validate-error.ts';
import { ResponseCheck, type YieldCounter } from './_validate-response.ts';
import { describe } from './body.ts';
import { notAnApplication } from './errors.ts';
import type { Application, Environ, ResponseBody, StartResponse } from './types.ts';

export { ValidationError } from './_validate-error.ts';

/**
 * Where a validator leaves its §13.3 counter for validators further in. A private symbol,
 * not a string key (`ngi.` is reserved for the spec): `{ ...environ }` copies it along, and
 * a copy that drops it only turns the check off.
 */
const YIELDS = Symbol('validator.yields');
/** The exchange's open inner bodies (§13.4), passed on the same way; a validator that finds none is the outermost. */
const BODIES = Symbol('validator.bodies');

type ScopedEnviron = Environ & { [YIELDS]?: YieldCounter; [BODIES]?: OpenBodies };

/**
 * Wraps an application so both sides of the contract are checked at run time, as
 * wsgiref.validate and Rack::Lint do: the environ, startResponse and body handling the
 * server provides (§2–§4, §9.3–§9.6), and everything the application does (§1, §6, §7,
 * §9, §10, §13.3, §13.4). A violation throws a {@link ValidationError} whose message starts
 * with the rule (`§6.3: …`); thrown from the application's call or its body's iteration, it
 * reaches the server, which answers 500 or drops the connection (§11); thrown from `close()`
 * (a body closed twice, an inner body a middleware dropped unclosed), the server logs it
 * (§9.4). Warnings (a missing Content-Type, a body the server never closed) go to `ngi.errors`.
 *
 * A correct application behaves exactly as without the validator: chunks stream one by
 * one, `write()` returns the server's promise, sync bodies stay sync. For development and
 * tests; the test client’s `request()` applies it by default.
 */
export function validator(app: Application): Application {
  const why = notAnApplication(app);
  if (why !== undefined) throw new ValidationError('§1.1', `an application is a function (environ, startResponse) => body, ${why}`);
  const seen = new WeakSet<object>();
  return function validated(environ: Environ, startResponse: StartResponse): ResponseBody | Promise<ResponseBody> {
    if (arguments.length !== 2) {
      throw new ValidationError('§1.1', `an application is called with 2 arguments (environ, startResponse), got ${arguments.length}`);
    }
    checkEnviron(environ);
    if (seen.has(environ)) throw new ValidationError('§2.1', 'the same environ object was passed again; environ is fresh per request');
    seen.add(environ);
    if (typeof startResponse !== 'function') {
      throw new ValidationError('§1.1', `startResponse must be a function, got ${describe(startResponse)}`);
    }
    const counter: YieldCounter = { pending: 0, epoch: 0 };
    const response = new ResponseCheck(startResponse, environ, counter, (environ as ScopedEnviron)[YIELDS]);
    const outer = (environ as ScopedEnviron)[BODIES];
    const scope: BodyScope = {
      request: `${environ.REQUEST_METHOD} ${environ['ngi.raw_path']}`,
      open: outer ?? new OpenBodies(),
      outermost: outer === undefined,
    };
    // §13.2: the validator is middleware, so the checked streams go on a copy.
    const copy: ScopedEnviron = {
      ...environ,
      'ngi.input': checkedInput(environ['ngi.input'], environ.CONTENT_LENGTH),
      'ngi.errors': checkedErrors(response.errors),
      [YIELDS]: counter,
      [BODIES]: scope.open,
    };
    const result: unknown = app(copy, response.startResponse);
    // A sync application stays sync: no promise is added on its path.
    if (isThenable(result)) return Promise.resolve(result).then((body) => returned(body, response, scope));
    return returned(result, response, scope);
  };
}

/** Checks what the application returned (§9.1) and wraps it for the server. */
function returned(body: unknown, response: ResponseCheck, scope: BodyScope): ResponseBody {
  response.returned = true;
  if (!isIterable(body)) {
    discard(body);
    throw new ValidationError('§9.1', `an application returns an Iterable or AsyncIterable of chunks, got ${describe(body)}`);
  }
  // A violation the application caught and swallowed still fails the request.
  if (response.violation) {
    discard(body);
    throw response.violation;
  }
  // §10.3: the server stops at a 204 or 304 status without taking a chunk; an array shows its chunks at once.
  const status = response.status?.slice(0, 3);
  if ((status === '204' || status === '304') && Array.isArray(body) && body.some((chunk) => chunk !== '' && !(chunk instanceof Uint8Array && chunk.byteLength === 0))) {
    discard(body);
    throw new ValidationError('§10.3', `a ${status} response has no body, but the application returned chunks for it`);
  }
  return checkedBody(body, response, scope);
}

function isIterable(body: unknown): body is ResponseBody {
  if ((typeof body !== 'object' && typeof body !== 'function') || body === null || body instanceof Uint8Array) return false;
  return Symbol.iterator in body || Symbol.asyncIterator in body;
}

/** The server never sees a body the validator refuses, so its close() is called here (§13.4). */
function discard(body: unknown): void {
  const close = (body as { close?: unknown } | null | undefined)?.close;
  if (typeof close !== 'function') return;
  try {
    const result: unknown = close.call(body);
    if (isThenable(result)) result.then(undefined, () => {});
  } catch {
    // The violation is the error to report.
  }
}
