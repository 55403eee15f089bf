import { createEnviron, mount, runApp, type Application } from '@ngi/core';
import { NodeSink, fromNodeListener, nodeEnviron, toNodeListener } from '@ngi/node';
import express from 'express';
import type { Listener } from '../configs.ts';

const HELLO = 'Hello World';

/** The plain Node handler every comparison starts from. */
export const rawHello: Listener = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
  res.end(HELLO);
};

/** The function `rawHelloClosure` made last: kept, so the making is not optimized away. */
export let lastMade: unknown;

/**
 * The plain handler making one empty function per request: as little work as making an empty
 * array, yet measured it costs a tenth (see the README: how fine the method resolves).
 */
const rawHelloClosure: Listener = (req, res) => {
  lastMade = () => {};
  rawHello(req, res);
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

/** `ngi-hello`'s two halves, each alone: the plain handler after building the environ it drops... */
const environThenRaw: Listener = (req, res) => {
  nodeEnviron(req, res);
  rawHello(req, res);
};

/** ...and `runApp` with the sink on one environ made ahead for every request. */
function responseOnly(): Listener {
  const environ = createEnviron();
  return (req, res) => void runApp(ngiHello, environ, new NodeSink(req, res, { hasBody: false }));
}

/** A middleware that changes nothing but forces the full callable conversion between two ends. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  'raw-hello': () => rawHello,
  'raw-hello-closure': () => rawHelloClosure,
  'ngi-hello': () => toNodeListener(ngiHello) as Listener,
  'ngi-environ-only': () => environThenRaw,
  // The same application mounted at the root, where mount changes nothing: it gets the environ itself.
  'ngi-mounted-hello': () => toNodeListener(mount({ '/': ngiHello })) as Listener,
  // Mounted at the root with redirects rewritten: it runs on a copy of the environ (§13.2), as under any prefix.
  'ngi-mounted-copy': () => toNodeListener(mount({ '/': ngiHello }, { rewriteRedirects: true })) as Listener,
  'ngi-response-only': responseOnly,
  'raw-roundtrip': () => toNodeListener(fromNodeListener(rawHello)) as Listener,
  'raw-roundtrip-full': () => toNodeListener(through(fromNodeListener(rawHello))) as Listener,
  'express-direct': expressHello,
  'express-roundtrip': () => toNodeListener(fromNodeListener(expressHello())) as Listener,
  'express-roundtrip-full': () => toNodeListener(through(fromNodeListener(expressHello()))) as Listener,
};

export const comparisons: [string, string, number | null][] = [
  ['ngi-hello', 'raw-hello', 0.95],
  ['raw-hello-closure', 'raw-hello', null],
  ['ngi-environ-only', 'raw-hello', null],
  ['ngi-mounted-hello', 'ngi-hello', null],
  ['ngi-mounted-copy', 'ngi-hello', null],
  ['ngi-response-only', 'raw-hello', null],
  ['raw-roundtrip', 'raw-hello', 0.95],
  ['raw-roundtrip-full', 'raw-hello', 0.95],
  ['express-roundtrip', 'express-direct', 0.95],
  ['express-roundtrip-full', 'express-direct', 0.95],
];
