import { request, type Application } from '@ngi/core';
import { fromExpress } from '@ngi/express';
import { expressNativeApp } from './configs/express.ts';
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);
const app = through(fromExpress(expressNativeApp()));
const N = Number(process.argv[2] ?? 20000);
let best = Infinity;
for (let round = 0; round < 8; round++) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await request(app, { url: '/' });
  const ns = Number(process.hrtime.bigint() - t) / N;
  if (round > 0) best = Math.min(best, ns);
}
console.log('express full in-process', (best / 1000).toFixed(2), 'µs');
