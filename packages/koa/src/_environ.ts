import type { Environ, ErrorStream } from '@ngi/core';
import { hasRequestBody, nodeEnviron, type SignalSource } from '@ngi/node';
import type { Context } from 'koa';
import { KoaInput, type InputOwner } from './_input.ts';
import type { Mount } from './_paths.ts';

/** What `toKoa`'s options fix for every request. */
export interface Settings {
  errors: ErrorStream | undefined;
  multiprocess: boolean | undefined;
  drainLimit: number;
}

/** The exchange an environ belongs to: it makes `ngi.signal` when first read, and hears of the body being read. */
export interface EnvironOwner extends InputOwner, SignalSource {}

/**
 * The environ of §2–§5 for the request in `ctx` (`nodeEnviron`, which under `fromKoa`
 * continues the outer environ), with the mount point the callable sits at (`mountOf`) and
 * `environ["koa.ctx"]` (§15). Without an `owner` (a listener run on Koa's own req and res),
 * `ngi.input` and `ngi.signal` are left on the request and response. Throws an `HttpError` 400
 * for a malformed path.
 */
export function environOf(ctx: Context, mount: Mount | undefined, settings: Settings, owner: EnvironOwner | undefined): Environ {
  const environ = nodeEnviron(ctx.req, ctx.res, {
    errors: settings.errors,
    multiprocess: settings.multiprocess,
    target: mount?.target,
    scriptName: mount?.scriptName,
    // Koa can drop the body it was handed without closing `res` (a 304 replacing it).
    signalSource: owner,
  });
  if (mount?.rawPath !== undefined) environ['ngi.raw_path'] = mount.rawPath;
  environ['koa.ctx'] = ctx;
  if (owner !== undefined && hasRequestBody(environ)) environ['ngi.input'] = new KoaInput(ctx, environ, owner, settings.drainLimit);
  return environ;
}
