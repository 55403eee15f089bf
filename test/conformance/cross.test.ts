import type { Application } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { fromKoa, toKoa } from '@ngi/koa';
import { serve } from '@ngi/node';
import express from 'express';
import Koa from 'koa';
import { listen, quiet, through } from './helpers.ts';
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

runConformance({
  name: 'Koa app mounted in Express: express().use(toExpress(fromKoa(koaApp)))',
  makeServer: (app) => listen(expressApp(fromKoa(koaApp(app)))),
});

runConformance({
  name: 'Express app mounted in Koa: koa.use(toKoa(fromExpress(expressApp)))',
  makeServer: (app) => listen(koaApp(fromExpress(expressApp(app))).callback()),
});

runConformance({
  name: 'Express and Koa apps in one callable: toNodeListener(through(fromKoa(koa around fromExpress(express around app))))',
  makeServer: (app) => serve(through(fromKoa(koaApp(fromExpress(expressApp(app))))), { port: 0, errors: quiet }),
});
