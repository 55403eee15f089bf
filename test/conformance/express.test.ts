import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Application, ErrorStream } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { serve } from '@ngi/node';
import express from 'express';
import { runConformance, type ConformanceServer } from './suite.ts';

/** The fixture's deliberate failures would fill the test output. */
const quiet: ErrorStream = { write() {}, flush() {} };

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

/** Serves a Node listener (an Express app) natively on 127.0.0.1. */
async function listen(listener: RequestListener): Promise<ConformanceServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An Express app around the callable: under `/mnt` through a Router, so the fixture sees the
 * prefix Express matched as SCRIPT_NAME, and at the root for everything else.
 */
function expressAround(app: Application): express.Express {
  const router = express.Router();
  router.use(toExpress(app, { errors: quiet }));
  return express().use('/mnt', router).use(toExpress(app, { errors: quiet }));
}

runConformance({
  name: 'callable mounted in Express: express().use(toExpress(app)), and under /mnt in a Router',
  makeServer: async (app) => listen(expressAround(app)),
});

runConformance({
  name: 'Express app served as a callable, pass-through: toNodeListener(fromExpress(expressApp))',
  makeServer: (app) => serve(fromExpress(expressAround(app)), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Express app served as a callable, full conversion: toNodeListener(through(fromExpress(expressApp)))',
  makeServer: (app) => serve(through(fromExpress(expressAround(app))), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Express app mounted in Express through the callable: express().use(toExpress(fromExpress(expressApp)))',
  makeServer: async (app) => {
    const inner = fromExpress(expressAround(app));
    const outer = express()
      .use('/mnt', toExpress(inner, { errors: quiet }))
      .use(toExpress(inner, { errors: quiet }));
    return listen(outer);
  },
});
