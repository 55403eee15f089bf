// Starts one benchmark configuration on 127.0.0.1 and prints its port.
// Usage: node --import tsx bench/server.ts <config>
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfigs } from './configs.ts';

const { configs } = await loadConfigs();

const name = process.argv[2] ?? '';
const make = configs[name];
if (!make) {
  console.error(`unknown config ${JSON.stringify(name)}; one of: ${Object.keys(configs).join(', ')}`);
  process.exit(2);
}
const listener = (await make()) as RequestListener;
const server = createServer({ keepAliveTimeout: 30_000 }, listener);
server.listen(0, '127.0.0.1', () => console.log((server.address() as AddressInfo).port));
process.on('SIGTERM', () => process.exit(0));
