import { getRequestListener } from '@hono/node-server';
import { fromFetch } from '@ngi/fetch';
import { toNodeListener } from '@ngi/node';
import { Hono } from 'hono';
import type { Listener } from '../configs.ts';
import { rawHello } from './node.ts';

/** The same "Hello World" route every comparison serves, as a Hono app. */
function honoHello(): Hono {
  const app = new Hono();
  app.get('/', (c) => c.text('Hello World'));
  return app;
}

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  // @hono/node-server as users run it: it replaces the global Request and Response with
  // lightweight classes (its default), so Hono's `new Response(text)` builds no stream.
  'hono-native': () => getRequestListener(honoHello().fetch) as Listener,
  // The same server with the globals left alone, as @ngi/fetch always leaves them.
  'hono-native-noglobals': () => getRequestListener(honoHello().fetch, { overrideGlobalObjects: false }) as Listener,
  'hono-ngi': () => toNodeListener(fromFetch(honoHello())) as Listener,
  // The plain Node handler, also making the native Response Hono makes, and dropping it: what
  // that Response costs any server that leaves the global Response alone.
  'raw-hello-response': () => (req, res) => {
    void new Response('Hello World');
    rawHello(req, res);
  },
};

export const comparisons: [string, string, number | null][] = [
  ['hono-ngi', 'hono-native', 0.9],
  ['hono-ngi', 'hono-native-noglobals', 0.9],
  ['raw-hello-response', 'raw-hello', null],
];
