import { fromNodeListener, serve, toNodeListener } from '@ngi/node';
import { quiet, through } from './helpers.ts';
import { runConformance } from './suite.ts';

runConformance({
  name: 'callable served by toNodeListener',
  makeServer: (app) => serve(app, { port: 0, errors: quiet }),
});

runConformance({
  name: 'Node listener round trip, full conversion: toNodeListener(through(fromNodeListener(listener)))',
  makeServer: (app) => serve(through(fromNodeListener(toNodeListener(app, { errors: quiet }))), { port: 0, errors: quiet }),
});

runConformance({
  name: 'Node listener round trip, pass-through: toNodeListener(fromNodeListener(listener))',
  makeServer: (app) => serve(fromNodeListener(toNodeListener(app, { errors: quiet })), { port: 0, errors: quiet }),
});
