import type { AddressInfo } from 'node:net';
import type { Application, Environ } from '@ngi/core';
import { fastifyNgi, fromFastify } from '@ngi/fastify';
import { serve } from '@ngi/node';
import Fastify, { type FastifyInstance } from 'fastify';
import { quiet, through } from './helpers.ts';
import { runConformance, type ConformanceServer } from './suite.ts';


async function listen(fastify: FastifyInstance): Promise<ConformanceServer> {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const { port } = fastify.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => fastify.close() };
}

/** A Fastify app that mounts `app` at the root and again at `/mnt`, which the suite's mount case goes through. */
function mounting(app: Application): FastifyInstance {
  const fastify = Fastify();
  void fastify.register(fastifyNgi, { app });
  void fastify.register(fastifyNgi, { app, prefix: '/mnt' });
  return fastify;
}

/**
 * Undoes a mount at `prefix` that the configuration adds in front of the suite's paths, so the
 * fixture answers as at the root. It refuses a request whose `SCRIPT_NAME` and `ngi.raw_path`
 * do not both start with the prefix: the suite then checks what the plugin put after it.
 */
function unmount(prefix: string, app: Application): Application {
  return (environ, startResponse) => {
    const raw = environ['ngi.raw_path'];
    if (!environ.SCRIPT_NAME.startsWith(prefix) || !raw.startsWith(prefix)) {
      throw new Error(`expected ${prefix} in SCRIPT_NAME ${environ.SCRIPT_NAME} and ngi.raw_path ${raw}`);
    }
    const inner: Environ = { ...environ, SCRIPT_NAME: environ.SCRIPT_NAME.slice(prefix.length), 'ngi.raw_path': raw.slice(prefix.length) };
    return app(inner, startResponse);
  };
}

runConformance({
  name: 'callable mounted in Fastify at the root and at /mnt: fastify.register(fastifyNgi, { app })',
  makeServer: (app) => listen(mounting(app)),
});

runConformance({
  name: 'callable mounted in Fastify under nested prefixes /outer/inner (rewriteUrl adds them)',
  makeServer: (app) => {
    const fastify = Fastify({ rewriteUrl: (req) => `/outer/inner${req.url}` });
    void fastify.register(
      async (outer) => {
        await outer.register(fastifyNgi, { app: unmount('/outer/inner', app), prefix: '/inner' });
      },
      { prefix: '/outer' },
    );
    return listen(fastify);
  },
});

runConformance({
  name: 'Fastify app served by NGI, pass-through: serve(fromFastify(fastify))',
  makeServer: (app) => serve(fromFastify(mounting(app)), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Fastify app served by NGI, full conversion: serve(through(fromFastify(fastify)))',
  makeServer: (app) => serve(through(fromFastify(mounting(app))), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Fastify app mounted in Fastify at /outer through the callable: fastify.register(fastifyNgi, { prefix, app: fromFastify(inner) })',
  makeServer: (app) => {
    const outer = Fastify({ rewriteUrl: (req) => `/outer${req.url}` });
    void outer.register(fastifyNgi, { app: fromFastify(mounting(unmount('/outer', app))), prefix: '/outer' });
    return listen(outer);
  },
});
