import fastifyExpress from '@fastify/express';
import { fromExpress } from '@ngi/express';
import express from 'express';
import { fastifyNgi } from '@ngi/fastify';
import { toKoa } from '@ngi/koa';
import Fastify, { type FastifyInstance } from 'fastify';
import Koa from 'koa';
import c2k from 'koa-connect';
import type { Listener } from '../configs.ts';
import { expressNativeApp } from './express.ts';

/**
 * The Express app answering with `res.end`: @fastify/express replaces Express's `res.send` with
 * Fastify's `reply.send` (an own property on `reply.raw`), which skips Express's own send (its
 * ETag among it), so with `res.send` the two do different work. With `res.end` they do the same.
 */
function expressEndApp(): express.Express {
  const app = express();
  app.get('/', (_req, res) => void res.setHeader('content-type', 'text/plain').end('Hello World'));
  return app;
}

async function routing(fastify: FastifyInstance): Promise<Listener> {
  await fastify.ready();
  return fastify.routing as Listener;
}

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  // An Express app inside Fastify through NGI: the fastifyNgi plugin running fromExpress(app).
  'express-in-fastify-ngi': () => {
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { app: fromExpress(expressNativeApp()) });
    return routing(fastify);
  },
  // The same with `direct`: Express runs on Fastify's own req and res, as @fastify/express runs it.
  'express-in-fastify-ngi-direct': () => {
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { app: fromExpress(expressNativeApp()), direct: true });
    return routing(fastify);
  },
  'express-end-in-fastify-ngi-direct': () => {
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { app: fromExpress(expressEndApp()), direct: true });
    return routing(fastify);
  },
  'express-end-in-fastify-anchor': async () => {
    const fastify = Fastify();
    await fastify.register(fastifyExpress);
    fastify.use(expressEndApp());
    return routing(fastify);
  },
  // The anchor: @fastify/express running the same Express app in Fastify's onRequest hook.
  'express-in-fastify-anchor': async () => {
    const fastify = Fastify();
    await fastify.register(fastifyExpress);
    fastify.use(expressNativeApp());
    return routing(fastify);
  },
  // An Express app inside Koa through NGI.
  'express-in-koa-ngi': () => new Koa().use(toKoa(fromExpress(expressNativeApp()))).callback() as Listener,
  // The same with `direct`: Express runs on Koa's own req and res, as koa-connect runs it.
  'express-in-koa-ngi-direct': () =>
    new Koa().use(toKoa(fromExpress(expressNativeApp()), { direct: true })).callback() as Listener,
  'express-in-koa-anchor': () => koaConnect(new Koa(), expressNativeApp()),
};

/**
 * The anchor: an Express app in Koa through koa-connect. Without the first middleware it answers
 * 404: Koa pre-sets 404, Express's res.send never sets 200, and Koa would respond a second time
 * (koa#1044).
 */
export function koaConnect(koa: Koa, app: express.Express): Listener {
  koa.use((ctx, next) => {
    ctx.respond = false;
    ctx.res.statusCode = 200;
    return next();
  });
  koa.use(c2k(app as never));
  return koa.callback() as Listener;
}

export const comparisons: [string, string, number][] = [
  ['express-in-fastify-ngi', 'express-in-fastify-anchor', 1.0],
  ['express-in-fastify-ngi-direct', 'express-in-fastify-anchor', 1.0],
  ['express-end-in-fastify-ngi-direct', 'express-end-in-fastify-anchor', 1.0],
  ['express-in-koa-ngi', 'express-in-koa-anchor', 1.0],
  ['express-in-koa-ngi-direct', 'express-in-koa-anchor', 1.0],
];
