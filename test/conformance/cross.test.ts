import type { AddressInfo } from 'node:net';
import type { Application } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { fastifyNgi, fromFastify } from '@ngi/fastify';
import { fromFetch, toFetch } from '@ngi/fetch';
import { fromKoa, toKoa } from '@ngi/koa';
import { serve } from '@ngi/node';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { mount } from 'hono/mount';
import Koa from 'koa';
import { FETCH_JOINS_REPEATS, listen, quiet, through } from './helpers.ts';
import { runConformance } from './suite.ts';

/**
 * Frameworks inside each other through the callable: each inner app serves the fixture with
 * its own adapter, the outer one mounts the inner app's callable. The conversion runs in full
 * both ways; nothing passes through.
 */

function expressApp(app: Application): express.Express {
  return express().use(toExpress(app, { errors: quiet }));
}

function koaApp(app: Application): Koa {
  const koa = new Koa();
  koa.silent = true;
  return koa.use(toKoa(app, { errors: quiet }));
}

function fastifyApp(app: Application): FastifyInstance {
  const fastify = Fastify();
  void fastify.register(fastifyNgi, { app, errors: quiet });
  return fastify;
}

function honoApp(app: Application): Hono {
  return new Hono().all('/*', mount(toFetch(app, { errors: quiet })));
}

async function listenFastify(fastify: FastifyInstance) {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const { port } = fastify.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => fastify.close() };
}

runConformance({
  name: 'Koa app mounted in Express: express().use(toExpress(fromKoa(koaApp)))',
  makeServer: (app) => listen(expressApp(fromKoa(koaApp(app)))),
});

runConformance({
  name: 'Express app mounted in Koa: koa.use(toKoa(fromExpress(expressApp)))',
  makeServer: (app) => listen(koaApp(fromExpress(expressApp(app))).callback()),
});

runConformance({
  name: 'Express app run on Koa\'s own req and res: koa.use(toKoa(fromExpress(expressApp), { direct: true }))',
  makeServer: (app) => {
    const koa = new Koa();
    koa.silent = true;
    return listen(koa.use(toKoa(fromExpress(expressApp(app)), { direct: true })).callback());
  },
});

runConformance({
  name: 'Express and Koa apps in one callable: toNodeListener(through(fromKoa(koa around fromExpress(express around app))))',
  makeServer: (app) => serve(through(fromKoa(koaApp(fromExpress(expressApp(app))))), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Fastify app mounted in Express: express().use(toExpress(fromFastify(fastifyApp)))',
  makeServer: (app) => listen(expressApp(fromFastify(fastifyApp(app)))),
});

runConformance({
  name: 'Fastify app mounted in Koa: koa.use(toKoa(fromFastify(fastifyApp)))',
  makeServer: (app) => listen(koaApp(fromFastify(fastifyApp(app))).callback()),
});

runConformance({
  name: 'Express app mounted in Fastify: fastify.register(fastifyNgi, { app: fromExpress(expressApp) })',
  makeServer: (app) => listenFastify(fastifyApp(fromExpress(expressApp(app)))),
});

runConformance({
  name: 'Koa app mounted in Fastify: fastify.register(fastifyNgi, { app: fromKoa(koaApp) })',
  makeServer: (app) => listenFastify(fastifyApp(fromKoa(koaApp(app)))),
});

runConformance({
  name: 'Express app run on Fastify\'s own req and res: fastify.register(fastifyNgi, { app: fromExpress(expressApp), direct: true })',
  makeServer: (app) => {
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { app: fromExpress(expressApp(app)), errors: quiet, direct: true });
    return listenFastify(fastify);
  },
});

runConformance({
  name: 'Hono app mounted in Express: express().use(toExpress(fromFetch(hono)))',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => listen(expressApp(fromFetch(honoApp(app)))),
});

runConformance({
  name: 'Hono app mounted in Fastify: fastify.register(fastifyNgi, { app: fromFetch(hono) })',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => listenFastify(fastifyApp(fromFetch(honoApp(app)))),
});

runConformance({
  name: 'Hono app mounted in Koa: koa.use(toKoa(fromFetch(hono)))',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => listen(koaApp(fromFetch(honoApp(app))).callback()),
});

runConformance({
  name: 'Express app as a fetch handler: toFetch(fromExpress(expressApp)), called with Requests through fromFetch',
  skip: [FETCH_JOINS_REPEATS],
  makeServer: (app) => serve(through(fromFetch(toFetch(fromExpress(expressApp(app)), { errors: quiet }))), { port: 0, errors: quiet }),
});
