export { toKoa, type ToKoaOptions } from './to-koa.ts';
export { fromKoa, type FromKoaOptions, type KoaApplication } from './from-koa.ts';
