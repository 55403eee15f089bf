import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Application } from '@ngi/core';
import { toNodeListener } from '@ngi/node';

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

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

/** Every configuration the benchmarks can start, by name. */
export const configs: Record<string, () => Listener | Promise<Listener>> = {
  'raw-hello': () => rawHello,
  'ngi-hello': () => toNodeListener(ngiHello) as Listener,
};

/** Comparisons: [subject, baseline, target ratio]. */
export const comparisons: [string, string, number][] = [['ngi-hello', 'raw-hello', 0.95]];
