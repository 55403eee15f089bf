import { createRequire } from 'node:module';
import type { Application } from '@ngi/core';
import { fromKoa, toKoa } from '@ngi/koa';
import { toNodeListener } from '@ngi/node';
import type { Listener } from '../configs.ts';
import { ngiHello } from './node.ts';

const HELLO = 'Hello World';

/** The little of Koa the benchmark uses, typed here: bench/ carries no @types/koa. */
interface KoaApp {
  use(middleware: (...args: never[]) => unknown): KoaApp;
  callback(): Listener;
}
interface KoaContext {
  set(name: string, value: string): void;
  body: unknown;
}
const Koa = createRequire(import.meta.url)('koa') as new () => KoaApp;

/** A Koa app answering natively, with the same head and body as `ngiHello`. */
function koaHello(): KoaApp {
  return new Koa().use((ctx: KoaContext) => {
    ctx.set('content-type', 'text/plain');
    ctx.body = HELLO;
  });
}

/** A middleware that changes nothing but forces the full callable conversion between two ends. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

export const configs: Record<string, () => Listener | Promise<Listener>> = {
  // The baseline: Koa answering by itself.
  'koa-native': () => koaHello().callback(),
  // The Koa app served as a callable; nothing in between, so Node's own req/res reach Koa.
  'koa-fromkoa': () => toNodeListener(fromKoa(koaHello())) as Listener,
  // The same with a middleware in between: Koa runs on the synthetic req/res.
  'koa-fromkoa-full': () => toNodeListener(through(fromKoa(koaHello()))) as Listener,
  // The callable mounted in Koa: its response goes through ctx.status, ctx.set and ctx.body.
  'koa-callable': () => new Koa().use(toKoa(ngiHello)).callback(),
};

export const comparisons: [string, string, number][] = [
  ['koa-fromkoa', 'koa-native', 0.95],
  ['koa-fromkoa-full', 'koa-native', 0.95],
  ['koa-callable', 'koa-native', 0.95],
];
