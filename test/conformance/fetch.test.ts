import type { Application } from '@ngi/core';
import { fromFetch, toFetch } from '@ngi/fetch';
import { serve } from '@ngi/node';
import { Hono } from 'hono';
import { mount } from 'hono/mount';
import { FETCH_JOINS_REPEATS, quiet, through } from './helpers.ts';
import { runConformance } from './suite.ts';


runConformance({
  name: 'Hono app through fromFetch, forwarding to toFetch(app) mounted in Hono: toNodeListener(fromFetch(hono))',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => {
    const hono = new Hono();
    // An async Hono middleware around the mount, so the response goes through Hono's compose.
    hono.use(async (_c, next) => {
      await next();
    });
    hono.all('/*', mount(toFetch(app, { errors: quiet })));
    return serve(fromFetch(hono), { port: 0, errors: quiet });
  },
});

runConformance({
  name: 'fetch handler round trip, full conversion: toNodeListener(through(fromFetch(toFetch(app))))',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => serve(through(fromFetch(toFetch(app, { errors: quiet }))), { port: 0, errors: quiet }),
});
