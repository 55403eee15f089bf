// in-process A/B: per-request time of apps through the test client (fromNodeListener), best of rounds
import { request } from '@ngi/core';
import { fromKoa, toKoa } from '@ngi/koa';
import { fromNodeListener } from '@ngi/node';
import { createRequire } from 'node:module';
import { ngiHello, rawHello } from './configs/node.ts';
const Koa = createRequire(import.meta.url)('koa');
const native = new Koa().use((ctx: any) => { ctx.set('content-type', 'text/plain'); ctx.body = 'Hello World'; });
const callable = new Koa().use(toKoa(ngiHello));
const apps: Record<string, any> = {
  'koa-native': fromKoa(native),
  'koa-callable': fromKoa(callable),
  'raw': fromNodeListener(rawHello as any),
};
const N = 20000;
const best: Record<string, number> = {};
for (let round = 0; round < 8; round++) {
  for (const [name, app] of Object.entries(apps)) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await request(app, { url: '/' });
    const ns = Number(process.hrtime.bigint() - t) / N;
    if (round > 0) best[name] = Math.min(best[name] ?? Infinity, ns);
  }
}
for (const [name, ns] of Object.entries(best)) console.log(name, (ns / 1000).toFixed(2), 'µs');
