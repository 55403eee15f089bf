import type { Application } from './types.ts';
/** Temporary pass-through until the validator lands. */
export function validator(app: Application): Application {
  return app;
}
