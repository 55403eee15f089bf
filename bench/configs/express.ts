import type { Application } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { toNodeListener } from '@ngi/node';
import express from 'express';
import type { Listener, Served } from '../configs.ts';

const HELLO = 'Hello World';

/**
 * The Express baseline other configurations can compare with: one route answering
 * "Hello World" the way an Express user writes it (`res.type().send()`).
 */
export function expressNativeApp(): express.Express {
  const app = express();
  app.get('/', (_req, res) => void res.type('text/plain').send(HELLO));
  return app;
}

/** The same route as an NGI callable. */
const ngiHello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '11']]);
  return [HELLO];
};

/** A middleware that changes nothing but forces the full conversion between the two ends. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

export const configs: Record<string, () => Listener | Served | Promise<Listener>> = {
  'express-native': () => expressNativeApp() as unknown as Listener,
  // The app served by `serve()`, which hands it Node's own req and res made with its prototypes.
  'express-served': () => ({ serve: fromExpress(expressNativeApp()) }),
  // Nothing in between: toNodeListener hands Node's own req/res to the app (the pass-through).
  'express-from-express': () => toNodeListener(fromExpress(expressNativeApp())) as Listener,
  'express-from-express-full': () => toNodeListener(through(fromExpress(expressNativeApp()))) as Listener,
  'express-to-express': () => express().get('/', toExpress(ngiHello)) as unknown as Listener,
};

export const comparisons: [string, string, number][] = [
  ['express-from-express', 'express-native', 0.95],
  ['express-served', 'express-native', 0.95],
  ['express-from-express-full', 'express-native', 0.95],
  ['express-to-express', 'express-native', 0.95],
];
