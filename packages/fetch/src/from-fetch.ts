import { checkOptions, clientGone, describeError, isThenable, onClientGone, wronglyCalled, type Application, type Environ } from '@ngi/core';
import { NgiRequest } from './_request.ts';
import { sendResponse } from './_response.ts';
import type { FetchApp, FetchExecutionContext, FetchHandler } from './types.ts';

export interface FromFetchOptions {
  /**
   * The handler's second argument (Hono's `c.env`, a Workers-style `env`, a Remix load context).
   * @default the request's environ, so `c.env.REMOTE_ADDR` and extension keys are at hand
   */
  env?: ((environ: Environ) => unknown) | undefined;
}

/**
 * Turns a WHATWG fetch handler — `(request) => Response`, or an object with a `fetch` method
 * such as a Hono app — into an NGI application. The handler gets a `Request` for the environ:
 * its URL is relative to the mount point (`SCRIPT_NAME` is in `request[baseUrlSymbol]`, as
 * Hono's and h3's own `mount` strip it), its body streams from `ngi.input` and its `signal` is
 * `ngi.signal`. The `Response` streams out as the handler produces it; a client that goes away
 * cancels it.
 */
export function fromFetch(handler: FetchHandler | FetchApp, options: FromFetchOptions = {}): Application {
  const call = fetchFunction(handler);
  checkOptions(options, 'fromFetch', { env: null });
  const env = options.env;
  if (env !== undefined && typeof env !== 'function') {
    throw new TypeError('fromFetch: options.env must be a function (environ) => env; wrap an object as () => object');
  }
  return (environ, startResponse) => {
    if (typeof startResponse !== 'function' || typeof environ?.REQUEST_METHOD !== 'string') return wronglyCalled('fromFetch(handler)', environ, startResponse);
    const request = new NgiRequest(environ) as unknown as Request;
    const result = call(request, env === undefined ? environ : env(environ), new ExecutionContext(environ));
    if (!isThenable(result)) return sendResponse(result, environ, startResponse);
    return settled(result, environ).then((response) => sendResponse(response, environ, startResponse));
  };
}

function fetchFunction(handler: FetchHandler | FetchApp): FetchHandler {
  if (typeof handler === 'function') {
    // An Express app and a class are functions too, and would fail every request.
    const named = handler as { handle?: unknown; set?: unknown; use?: unknown };
    if (typeof named.handle === 'function' && typeof named.set === 'function' && typeof named.use === 'function') {
      throw new TypeError('fromFetch: expected a fetch handler (request) => Response, got an Express app: fromExpress(app) from @ngi/express');
    }
    if (/^class\b/.test(Function.prototype.toString.call(handler))) {
      throw new TypeError('fromFetch: expected a fetch handler (request) => Response, got a class: give an instance, fromFetch(new App())');
    }
    return handler;
  }
  if (typeof handler === 'object' && handler !== null && typeof handler.fetch === 'function') {
    return handler.fetch.bind(handler);
  }
  throw new TypeError('fromFetch: expected a fetch handler (request) => Response, or an object with a fetch method');
}

/**
 * The handler's response, or a rejection as soon as the client goes away: the NGI server waits
 * on the application without watching the signal (§12.1). A response that arrives too late is
 * cancelled so its stream does not hold resources.
 */
function settled(result: PromiseLike<Response>, environ: Environ): Promise<Response> {
  return new Promise((resolve, reject) => {
    // Watched without making ngi.signal where the server allows it: it is read only once aborted.
    const unwatch = onClientGone(environ, { handleEvent: () => reject(environ['ngi.signal'].reason) });
    result.then(
      (response) => {
        unwatch();
        if (clientGone(environ)) response?.body?.cancel(environ['ngi.signal'].reason).catch(() => {});
        resolve(response);
      },
      (error: unknown) => {
        unwatch();
        reject(error);
      },
    );
  });
}

/** `c.executionCtx` for Hono and Workers-style handlers. */
class ExecutionContext implements FetchExecutionContext {
  constructor(readonly environ: Environ) {}

  waitUntil(promise: Promise<unknown>): void {
    Promise.resolve(promise).catch((error: unknown) => {
      this.environ['ngi.errors'].write(`fromFetch: a waitUntil() promise failed: ${describeError(error)}\n`);
    });
  }

  passThroughOnException(): void {}
}
