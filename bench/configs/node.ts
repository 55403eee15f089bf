import type { Application } from '@ngi/core';
import { fromNodeListener, toNodeListener } from '@ngi/node';
import express from 'express';
import type { Listener } from '../configs.ts';

const HELLO = 'Hello World';

/** The plain Node handler every comparison starts from. */
export const rawHello: Listener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
  res.end(HELLO);
};

/** The same response as an NGI application. */
export const ngiHello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '11']]);
  return [HELLO];
};

/** An Express app with the same route. */
function expressHello(): Listener {
  const app = express();
  app.get('/', (_req, res) => void res.type('text/plain').send(HELLO));
  return app as unknown as Listener;
}

/** A middleware that changes nothing but forces the full callable conversion between two ends. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  'raw-hello': () => rawHello,
  'ngi-hello': () => toNodeListener(ngiHello) as Listener,
  'raw-roundtrip': () => toNodeListener(fromNodeListener(rawHello)) as Listener,
  'raw-roundtrip-full': () => toNodeListener(through(fromNodeListener(rawHello))) as Listener,
  'express-direct': expressHello,
  'express-roundtrip': () => toNodeListener(fromNodeListener(expressHello())) as Listener,
  'express-roundtrip-full': () => toNodeListener(through(fromNodeListener(expressHello()))) as Listener,
};

export const comparisons: [string, string, number][] = [
  ['ngi-hello', 'raw-hello', 0.95],
  ['raw-roundtrip', 'raw-hello', 0.95],
  ['raw-roundtrip-full', 'raw-hello', 0.95],
  ['express-roundtrip', 'express-direct', 0.95],
  ['express-roundtrip-full', 'express-direct', 0.95],
];
