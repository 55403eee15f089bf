import { request } from '@ngi/core';
import { fromKoa, toKoa } from '@ngi/koa';
import { createRequire } from 'node:module';
import { ngiHello } from './configs/node.ts';
const Koa = createRequire(import.meta.url)('koa');
const app = fromKoa(new Koa().use(toKoa(ngiHello)));
for (let i = 0; i < 200000; i++) await request(app, { url: '/' });
