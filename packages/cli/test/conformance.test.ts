import { compose, type Application, type ErrorStream } from '@ngi/core';
import { serve } from '@ngi/node';
import { runConformance } from '../../../test/conformance/suite.ts';
import { accessLog, withSettings } from '../src/index.ts';
import { forwardedFrom } from '../src/_forwarded.ts';

/** The fixture's deliberate failures would fill the test output. */
const quiet: ErrorStream = { write() {}, flush() {} };

/** The middleware `ngi serve` puts around every application, as its workers do (the log goes nowhere). */
const served = (app: Application): Application =>
  compose(forwardedFrom(['127.0.0.1', '::1', 'unix'], ['for', 'proto'], true), accessLog({ write: () => {} }), withSettings({}))(app);

runConformance({
  name: 'ngi serve middleware: forwarded-allow-ips, access log, settings',
  makeServer: (app) => serve(served(app), { port: 0, errors: quiet }),
});
