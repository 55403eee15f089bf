import { serve } from '@ngi/node';
import { runConformance } from './suite.ts';

runConformance({
  name: 'callable served by toNodeListener',
  makeServer: (app) => serve(app, { port: 0 }),
});
