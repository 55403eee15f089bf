import { fromKoa } from '@ngi/koa';
import { toExpress } from '@ngi/express';
import express from 'express';
import Koa from 'koa';

/** The legacy application, written for Koa years ago; it knows nothing of where it is mounted. */
export function legacyKoaApp(): Koa {
  const koa = new Koa();
  koa.use(async (ctx) => {
    if (ctx.path === '/') ctx.body = { app: 'legacy koa', path: ctx.path };
  });
  return koa;
}

/**
 * The new server is Express. `/legacy` is the Koa app, through the callable: Express's own
 * middleware (here a header every response gets) still applies to the legacy app's responses,
 * and Koa's 404s fall through to Express's later routes (`x-cascade: pass`, koa#846).
 */
export function server(): express.Express {
  const app = express();
  app.use((_req, res, next) => {
    res.setHeader('x-served-by', 'express');
    next();
  });
  app.use('/legacy', toExpress(fromKoa(legacyKoaApp(), { cascade: true })));
  app.get('/', (_req, res) => void res.json({ app: 'new express' }));
  app.use((_req, res) => void res.status(404).json({ error: 'not found (express)' }));
  return app;
}
