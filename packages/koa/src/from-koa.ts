import type { ServerResponse } from 'node:http';
import type { Application } from '@ngi/core';
import { fromNodeListener, type NodeRequestListener } from '@ngi/node';

/** What `fromKoa` needs of a Koa application: its request listener. */
export interface KoaApplication {
  callback(): NodeRequestListener;
}

export interface FromKoaOptions {
  /**
   * Marks Koa's own 404 — no middleware set a status or a body — with `x-cascade: pass`
   * (§14.1), so a dispatcher (`cascade`, `mount`, `toKoa`, `toExpress`) tries what comes next
   * instead of sending it: what a Koa app mounted elsewhere cannot say today (koa#846).
   * @default false
   */
  cascade?: boolean;
}

/**
 * A Koa application as an NGI application, through `koaApp.callback()` on real Node request
 * and response objects (`fromNodeListener`): middleware added after this call is not seen,
 * as with `callback()`. Koa sees `ctx.url` relative to `SCRIPT_NAME`; the prefix is
 * `ctx.req[environSymbol].SCRIPT_NAME`, and `toKoa` inside the app picks it up by itself.
 */
export function fromKoa(koaApp: KoaApplication, options: FromKoaOptions = {}): Application {
  if (typeof koaApp?.callback !== 'function') {
    throw new TypeError('fromKoa: expected a Koa application (an object with callback())');
  }
  const listener = koaApp.callback();
  return fromNodeListener(listener, options.cascade === true ? { prepare: markUnhandled } : {});
}

/**
 * Koa leaves `res.statusMessage` empty on the 404 it starts every request with; its status
 * setter (`ctx.status =`, `ctx.throw`, a body) fills it. So a 404 head with no message is
 * Koa's own "nothing handled this". (Over HTTP/2 the setter leaves it empty too, so there a
 * deliberate bodiless 404 is marked as well.) The hook is on this response only, never a prototype.
 */
function markUnhandled(_req: unknown, res: ServerResponse): void {
  res.writeHead = marking(res.writeHead);
}

/** `writeHead` marking Koa's own 404; made here, not assigned as a literal (see core's Exchange). */
function marking(writeHead: ServerResponse['writeHead']): ServerResponse['writeHead'] {
  return function (this: ServerResponse, ...args: unknown[]) {
    if (args[0] === 404 && typeof args[1] !== 'string' && !this.statusMessage && !this.headersSent) {
      this.setHeader('x-cascade', 'pass');
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}
