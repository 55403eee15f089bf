import type { Application, ErrorStream } from '@ngi/core';
import { fromNodeListener, serve, toNodeListener } from '@ngi/node';
import { runConformance } from './suite.ts';

/** The fixture's deliberate failures would fill the test output. */
export const quiet: ErrorStream = { write() {}, flush() {} };

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

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
