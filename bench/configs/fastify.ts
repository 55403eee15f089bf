import type { Application } from '@ngi/core';
import { fastifyNgi, fromFastify } from '@ngi/fastify';
import { toNodeListener } from '@ngi/node';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Listener } from '../configs.ts';
import { ngiHello } from './node.ts';

/** A Fastify app with the "Hello World" route every comparison serves. */
function fastifyHello(): FastifyInstance {
  const fastify = Fastify();
  fastify.get('/', (_request, reply) => reply.type('text/plain').send('Hello World'));
  return fastify;
}

/** The request handler Fastify's own server runs, once the app is ready. */
async function routing(fastify: FastifyInstance): Promise<Listener> {
  await fastify.ready();
  return fastify.routing as Listener;
}

/** A middleware that changes nothing but forces the full callable conversion between two ends. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  // The Fastify app natively: its route answered by its own request handler.
  'fastify-native': () => routing(fastifyHello()),
  // The same app served by NGI; with nothing in between, Node's req and res are handed through.
  'fastify-ngi': () => toNodeListener(fromFastify(fastifyHello())) as Listener,
  // The same app served by NGI through a middleware, so every request is converted both ways.
  'fastify-ngi-full': () => toNodeListener(through(fromFastify(fastifyHello()))) as Listener,
  // The same response from a callable mounted in Fastify at the root.
  'fastify-mounted': () => {
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { app: ngiHello });
    return routing(fastify);
  },
};

export const comparisons: [string, string, number][] = [
  ['fastify-ngi', 'fastify-native', 0.95],
  ['fastify-ngi-full', 'fastify-native', 0.95],
  ['fastify-mounted', 'fastify-native', 0.95],
];
