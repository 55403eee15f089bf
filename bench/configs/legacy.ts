import { createRequire } from 'node:module';
import { fromExpress } from '@ngi/express';
import { toKoa } from '@ngi/koa';
import { toNodeListener } from '@ngi/node';
import type express from 'express';
import type Koa from 'koa';
import type { Listener, Served } from '../configs.ts';
import { koaConnect } from './cross.ts';

/**
 * Express 4 and Koa 2, which legacy apps run on, and which koa-connect is mostly used with.
 * Their API is that of the current versions as far as these configurations go.
 */
const require = createRequire(import.meta.url);
const express4 = require('express4') as typeof express;
const Koa2 = require('koa2') as typeof Koa;

const HELLO = 'Hello World';

function expressApp(): express.Express {
  const app = express4();
  app.get('/', (_req, res) => void res.type('text/plain').send(HELLO));
  return app;
}

export const configs: Record<string, () => Listener | Served> = {
  'express4-native': () => expressApp() as unknown as Listener,
  'express4-served': () => ({ serve: fromExpress(expressApp()) }),
  'express4-from-express': () => toNodeListener(fromExpress(expressApp())) as Listener,
  'express4-in-koa2-ngi': () => new Koa2().use(toKoa(fromExpress(expressApp()))).callback() as Listener,
  // koa-connect, with the workaround it needs to answer 200 at all.
  'express4-in-koa2-anchor': () => koaConnect(new Koa2(), expressApp()),
};

export const comparisons: [string, string, number][] = [
  ['express4-from-express', 'express4-native', 0.95],
  ['express4-served', 'express4-native', 0.95],
  ['express4-in-koa2-ngi', 'express4-in-koa2-anchor', 1.0],
];
