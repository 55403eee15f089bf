import type { Application } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { serve } from '@ngi/node';
import express from 'express';
import { listen, quiet, through } from './helpers.ts';
import { runConformance } from './suite.ts';

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
