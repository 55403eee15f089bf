import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Application, Environ } from '@ngi/core';

/** What a `fromNodeListener` application wraps. */
export interface Wrapped {
  listener: (req: IncomingMessage, res: ServerResponse) => unknown;
  prepare: ((req: never, res: ServerResponse, environ: Environ) => void) | undefined;
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
