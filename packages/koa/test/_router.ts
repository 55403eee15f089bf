// @koa/router is a dependency of this package's tests only; the cross-package suites reach it here.
export { Router } from '@koa/router';
