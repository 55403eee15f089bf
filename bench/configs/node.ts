import type { Application } from '@ngi/core';
import { toNodeListener } from '@ngi/node';

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

/** Configurations by name: each makes the request listener a benchmark server runs. */
export const configs: Record<string, () => Listener | Promise<Listener>> = {
  'raw-hello': () => rawHello,
  'ngi-hello': () => toNodeListener(ngiHello) as Listener,
};

/** Comparisons: [subject, baseline, target ratio]. */
export const comparisons: [string, string, number][] = [['ngi-hello', 'raw-hello', 0.95]];
