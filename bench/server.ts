// Starts one benchmark configuration on 127.0.0.1 and prints its port.
// Usage: node --import tsx bench/server.ts <config>
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@ngi/node';
import { loadConfigs } from './configs.ts';

const { configs } = await loadConfigs();

const name = process.argv[2] ?? '';
const make = configs[name];
if (!make) {
  console.error(`unknown config ${JSON.stringify(name)}; one of: ${Object.keys(configs).join(', ')}`);
  process.exit(2);
}
const made = await make();
if (typeof made === 'function') {
  const server = createServer({ keepAliveTimeout: 30_000 }, made as RequestListener);
  server.listen(0, '127.0.0.1', () => console.log((server.address() as AddressInfo).port));
} else {
  const served = await serve(made.serve, { port: 0, keepAliveTimeout: 30_000 });
  console.log(served.address.port);
}
process.on('SIGTERM', () => process.exit(0));
