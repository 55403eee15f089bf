import type { AddressInfo } from 'node:net';
import type { Application } from '@ngi/core';
import { toExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { fromFetch } from '@ngi/fetch';
import { toKoa } from '@ngi/koa';
import { serve, toNodeListener } from '@ngi/node';
import express from 'express';
import Fastify from 'fastify';
import type { Hono } from 'hono';
import Koa from 'koa';
import mount from 'koa-mount';
import { listen, quiet, through } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';

export const PREFIX = '/mnt';

/** One way of serving the Hono app through NGI. */
export interface Config {
  name: string;
  prefix: '' | typeof PREFIX;
  start(app: Hono): Promise<ConformanceServer>;
}

async function listenFastify(app: Application): Promise<ConformanceServer> {
  const fastify = Fastify();
  await fastify.register(fastifyNgi, { prefix: PREFIX, app, errors: quiet });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, close: () => fastify.close() };
}

function listenKoa(app: Application): Promise<ConformanceServer> {
  const koa = new Koa().use(mount(PREFIX, toKoa(app, { errors: quiet })));
  // Koa logs "Premature close" for any streamed body whose client leaves (the abort test).
  koa.silent = true;
  return listen(koa.callback());
}

// Express's X-Powered-By is set on the host's response, out of reach of Hono's secureHeaders: turned off.
export const configs: Config[] = [
  { name: 'serve(fromFetch(app))', prefix: '', start: (app) => serve(fromFetch(app), { port: 0, errors: quiet }) },
  { name: 'toNodeListener(fromFetch(app.fetch))', prefix: '', start: (app) => listen(toNodeListener(fromFetch(app.fetch), { errors: quiet })) },
  { name: 'toNodeListener(through(fromFetch(app)))', prefix: '', start: (app) => listen(toNodeListener(through(fromFetch(app)), { errors: quiet })) },
  { name: 'Express: use(/mnt, toExpress(fromFetch(app)))', prefix: PREFIX, start: (app) => listen(express().disable('x-powered-by').use(PREFIX, toExpress(fromFetch(app), { errors: quiet }))) },
  { name: 'Fastify: fastifyNgi at /mnt', prefix: PREFIX, start: (app) => listenFastify(fromFetch(app)) },
  { name: 'Koa: koa-mount /mnt, toKoa(fromFetch(app))', prefix: PREFIX, start: (app) => listenKoa(fromFetch(app)) },
];
