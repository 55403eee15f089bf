import { createRequire } from 'node:module';
import { Router } from '@koa/router';

// @koa/router is a dependency of this package's tests only; the cross-package suites reach it here.
export { Router };

/**
 * @koa/router 13, the last on path-to-regexp 6 (`/api/:rest*`, `/api/(.*)`), which Koa 2 apps
 * route with. Its API is the same as the current one's; it ships no types of its own.
 */
export const Router13 = createRequire(import.meta.url)('koa-router13') as typeof Router;

/** koa-router 7 (path-to-regexp 1), the router of early Koa 2 apps, which sets no `ctx.routerPath`. */
export const Router7 = createRequire(import.meta.url)('koa-router7') as typeof Router;
