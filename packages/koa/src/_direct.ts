import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import { drainUnread, type DirectListener } from '@ngi/node';
import type { Context, Next } from 'koa';
import { environOf, type Settings } from './_environ.ts';
import type { Mount } from './_paths.ts';

/**
 * `toKoa` with `direct`: the listener behind the application answers on Koa's own `ctx.req`
 * and `ctx.res`, as koa-connect runs it, without its failures. Koa is told not to answer
 * (`ctx.respond = false`), so it never responds a second time (koa#1044); the listener starts
 * from 200, not Koa's preset 404 (koa-connect answers 404 without a workaround); a request it
 * passes on goes to `await next()` with Koa's state back, unless it read the request body
 * (then Koa answers 404); an error before its head is thrown into Koa, after it the connection
 * is dropped (§11.2) and the error reported as Koa reports one (`app.emit('error')`). The
 * promise settles when the response closes, so middleware upstream resumes after it, as with
 * any Koa response. Returns undefined, having run nothing, when the listener cannot have the
 * request, and the conversion runs instead: its body is not as Node handed it over
 * (`untouched`), or HTTP/2.
 */
export function runDirect(ctx: Context, next: Next, mount: Mount | undefined, direct: DirectListener, settings: Settings): Promise<void> | undefined {
  const req = ctx.req as IncomingMessage;
  if (req.httpVersionMajor >= 2 || !untouched(req)) return undefined;
  // At Koa's root, with nothing rewritten, the listener needs no environ to find its path.
  const environ = mount === undefined ? undefined : environOf(ctx, mount, settings, undefined);
  const res = ctx.res as ServerResponse;
  // Upstream may have told Koa not to answer (`ctx.respond = false`): so it stays, passed on.
  const respond = ctx.respond;
  const status = res.statusCode;
  // `ctx.status` set upstream also set the reason phrase, which Node would send with the
  // listener's status ("201 OK") and Koa's 404 would take for its body.
  const message = res.statusMessage;
  // The headers describing a body. Koa's body setter put them on `res` for a body set upstream,
  // which is not sent: its Content-Length would frame the listener's body. A request passed on
  // gets them back, also after the Koa app's own 404 (fromKoa with cascade) set its own.
  const type = res.getHeader('content-type');
  const length = res.getHeader('content-length');
  if (ctx.response.body != null) {
    res.removeHeader('content-type');
    res.removeHeader('content-length');
  }
  let passed: ((error?: unknown) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    // The response closed (the client left) before the listener passed the request on:
    // upstream has resumed, so a later error can only be reported.
    let settled = false;
    const closed = (): void => void ((settled = true), resolve());
    const fail = (error: unknown): void => (settled ? void ctx.app.emit('error', error, ctx) : reject(error));
    passed = (error) => {
      ctx.respond = respond;
      res.off('close', closed);
      if (error === undefined) {
        res.statusCode = status;
        res.statusMessage = message;
        putBack(res, 'content-type', type);
        putBack(res, 'content-length', length);
        // §14.1: a body the listener read (Express's express.json()) is gone; Koa's next
        // middleware would see none, so the request is answered here, as the listener's own 404.
        if (bodyRead(req)) {
          ctx.status = 404;
          resolve();
        } else next().then(resolve, fail);
      } else if (res.headersSent) {
        ctx.app.emit('error', error, ctx);
        res.destroy(error instanceof Error ? error : new Error(String(error)));
        resolve();
      } else {
        res.statusCode = status;
        res.statusMessage = message;
        fail(error);
      }
    };
    res.once('close', closed);
  });
  ctx.respond = false;
  res.statusCode = 200;
  res.statusMessage = '';
  // Node would read what is left unread of the body to its end, however long (§12.3).
  drainUnread(req, res, settings.drainLimit);
  if (!direct(req, res, environ, passed!)) {
    ctx.respond = respond;
    res.statusCode = status;
    res.statusMessage = message;
    putBack(res, 'content-type', type);
    putBack(res, 'content-length', length);
    return undefined;
  }
  return done;
}

/**
 * Nothing read the request body, nor paused it. A body parser that read it (@koa/bodyparser,
 * koa-bodyparser) keeps the body only in `ctx.request`, which the conversion hands over; one that
 * parsed nothing (another Content-Type; koa-bodyparser's `{}` for a GET) sets `ctx.request.body`
 * all the same, and leaves the stream whole to the listener. raw-body leaves a body over its limit
 * unread and paused ("users should handle the stream themselves"), and a 'data' listener, as
 * Express's parsers add, never resumes it: the conversion reads it with `read()`.
 */
function untouched(req: IncomingMessage): boolean {
  return !req.readableDidRead && !req.readableEnded && req.readableFlowing !== false;
}

/** Gives `res` back the value a header had before the listener ran, or none. */
function putBack(res: ServerResponse, name: string, value: OutgoingHttpHeader | undefined): void {
  if (value !== undefined) res.setHeader(name, value);
  else if (res.hasHeader(name)) res.removeHeader(name);
}

/** The request has a body (RFC 9112 §6.3) and some of it was read. */
function bodyRead(req: IncomingMessage): boolean {
  const { 'transfer-encoding': coding, 'content-length': length } = req.headers;
  return (coding !== undefined || (length !== undefined && length !== '0')) && (req.readableDidRead || req.readableEnded);
}
