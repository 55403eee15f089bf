import { cascade } from '@ngi/core';
import { fromExpress } from '@ngi/express';
import { fromKoa } from '@ngi/koa';
import express from 'express';
import Koa from 'koa';

/** The legacy app: every route of the product, in Express. */
export function legacyExpressApp(): express.Express {
  const app = express();
  app.use(express.json());
  app.get('/users', (_req, res) => void res.json({ from: 'legacy', users: ['ada', 'alan'] }));
  app.post('/orders', (req, res) => void res.status(201).json({ from: 'legacy', order: req.body }));
  app.get('/reports', (_req, res) => void res.json({ from: 'legacy', reports: [] }));
  return app;
}

/** The new app, in Koa: so far it has taken over /users only. */
export function newKoaApp(): Koa {
  const koa = new Koa();
  koa.use(async (ctx) => {
    if (ctx.method === 'GET' && ctx.path === '/users') ctx.body = { from: 'new', users: ['ada', 'alan', 'grace'] };
  });
  return koa;
}

/**
 * Strangler fig: routes the new app answers win; whatever it answers 404 or 405 falls through
 * to the legacy app, request body and all. Move routes over one by one.
 */
export const application = cascade([fromKoa(newKoaApp()), fromExpress(legacyExpressApp())]);
