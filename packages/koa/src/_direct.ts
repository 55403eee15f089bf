import type { ServerResponse } from 'node:http';
import type { DirectListener } from '@ngi/node';
import type { Context, Middleware, Next } from 'koa';
import { environOf, type Settings } from './_environ.ts';
import { mountOf } from './_paths.ts';

/**
 * `toKoa` with `direct`: the listener behind the application answers on Koa's own `ctx.req`
 * and `ctx.res`, as koa-connect runs it, without its failures. Koa is told not to answer
 * (`ctx.respond = false`), so it never responds a second time (koa#1044); the listener starts
 * from 200, not Koa's preset 404 (koa-connect answers 404 without a workaround); a request it
 * passes on goes to `await next()` with Koa's state back; an error before its head is thrown
 * into Koa, after it the connection is dropped (§11.2). The promise settles when the response
 * closes, so middleware upstream resumes after it, as with any Koa response.
 */
export function runDirect(ctx: Context, next: Next, self: Middleware, direct: DirectListener, settings: Settings): Promise<void> | undefined {
  // At Koa's root, with nothing rewritten, the listener needs no environ to find its path.
  const environ = mountOf(ctx, self) === undefined ? undefined : environOf(ctx, self, settings, undefined);
  const res = ctx.res as ServerResponse;
  const status = res.statusCode;
  let passed: ((error?: unknown) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    passed = (error) => {
      ctx.respond = true;
      if (error === undefined) {
        res.statusCode = status;
        next().then(resolve, reject);
      } else if (res.headersSent) {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
        resolve();
      } else {
        res.statusCode = status;
        reject(error);
      }
    };
    res.once('close', () => resolve());
  });
  ctx.respond = false;
  res.statusCode = 200;
  if (!direct(ctx.req, res, environ, passed!)) {
    ctx.respond = true;
    res.statusCode = status;
    return undefined;
  }
  return done;
}
