import type { RequestListener } from 'node:http';
import type { Application } from '@ngi/core';
import { fromKoa, toKoa } from '@ngi/koa';
import { serve } from '@ngi/node';
import Koa from 'koa';
import mount from 'koa-mount';
import { Router } from '@koa/router';
import { listen, quiet, through } from './helpers.ts';
import { runConformance, type ConformanceServer } from './suite.ts';

/** A Koa app whose own error log stays quiet (the fixture fails on purpose). */
function koa(): Koa {
  const app = new Koa();
  app.silent = true;
  return app;
}

/** Serves a Koa app (any state and context types) from node:http, as `app.listen()` would. */
const listenKoa = (app: { callback(): RequestListener }): Promise<ConformanceServer> => listen(app.callback());

/** A Koa app that runs `app` for every request. */
const koaRunning = (app: Application): Koa => koa().use(toKoa(app, { errors: quiet }));

runConformance({
  name: 'callable mounted in Koa: toKoa at the root',
  makeServer: (app) => listenKoa(koaRunning(app)),
});

runConformance({
  name: 'callable mounted in Koa: toKoa under koa-mount',
  // The suite requests from the root; the fixture's own /mnt is served through koa-mount instead.
  makeServer: (app) => listenKoa(koa().use(mount('/mnt', toKoa(app, { errors: quiet }))).use(toKoa(app, { errors: quiet }))),
});

runConformance({
  name: 'callable mounted in Koa: toKoa as @koa/router routes (a /mnt prefix router, and the root)',
  makeServer: (app) => {
    const prefixed = new Router({ prefix: '/mnt' }).all('{/*path}', toKoa(app, { errors: quiet }));
    const root = new Router().all('{/*path}', toKoa(app, { errors: quiet }));
    return listenKoa(koa().use(prefixed.routes()).use(root.routes()));
  },
});

runConformance({
  name: 'Koa app served by NGI, full conversion: serve(through(fromKoa(koa)))',
  makeServer: (app) => serve(through(fromKoa(koaRunning(app))), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Koa app served by NGI, pass-through: serve(fromKoa(koa))',
  makeServer: (app) => serve(fromKoa(koaRunning(app)), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Koa app mounted in Koa through the callable: toKoa(fromKoa(koa)), also under koa-mount',
  makeServer: (app) => {
    const inner = fromKoa(koaRunning(app));
    return listenKoa(koa().use(mount('/mnt', toKoa(inner, { errors: quiet }))).use(toKoa(inner, { errors: quiet })));
  },
});

runConformance({
  name: 'Koa falls through: a Koa app that handles nothing (fromKoa cascade) passes every request on to the next toKoa',
  makeServer: (app) => {
    const empty = fromKoa(koa(), { cascade: true });
    return listenKoa(koa().use(toKoa(empty, { errors: quiet })).use(toKoa(fromKoa(koaRunning(app)), { errors: quiet })));
  },
});
