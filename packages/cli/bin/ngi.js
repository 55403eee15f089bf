#!/usr/bin/env node
// TypeScript applications (and this package's own sources, in a workspace) load without a build.
import { register as registerEsm } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

registerEsm();
registerCjs();
const { main } = await import('@ngi/cli');
process.exitCode = await main(process.argv.slice(2));
// Done (a worker's main never is): what a loaded module left running, a server it started
// itself say, does not keep the process.
setTimeout(() => process.exit(), 1000).unref();
