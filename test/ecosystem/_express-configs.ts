import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { fromExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { toKoa } from '@ngi/koa';
import { serve, toNodeListener } from '@ngi/node';
import type express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import mount from 'koa-mount';
import type { RawResponse } from '../conformance/client.ts';
import { listen, quiet, through } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';

/** One way of running the app: where it is mounted, and how it is served. */
export interface Config {
  name: string;
  /** Whether the exchange is converted to NGI and back, rather than run on the host's own req and res. */
  converts: boolean;
  /**
   * Whether a body that ended within one turn of the event loop goes out whole, with its
   * Content-Length, where Node chunked it: toKoa and fastifyNgi hand such a body to the host
   * as a Buffer (their READMEs: "Response"; "whole, or as a stream").
   */
  sendsWhole: boolean;
  prefix: '' | '/legacy';
  start(app: express.Express): Promise<ConformanceServer>;
}

export const PREFIX = '/legacy';

async function listenFastify(app: express.Express, direct: boolean): Promise<ConformanceServer> {
  const fastify = Fastify();
  await fastify.register(fastifyNgi, { prefix: PREFIX, app: fromExpress(app), errors: quiet, direct });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`, close: () => fastify.close() };
}

function listenKoa(app: express.Express, direct: boolean): Promise<ConformanceServer> {
  const koa = new Koa().use(mount(PREFIX, toKoa(fromExpress(app), { errors: quiet, direct })));
  koa.silent = true;
  return listen(koa.callback());
}

export const configs: Config[] = [
  { name: 'serve(fromExpress(app)), the pass-through', converts: false, sendsWhole: false, prefix: '', start: (app) => serve(fromExpress(app), { port: 0, errors: quiet }) },
  { name: 'toNodeListener(through(fromExpress(app))), the full conversion', converts: true, sendsWhole: false, prefix: '', start: (app) => listen(toNodeListener(through(fromExpress(app)), { errors: quiet })) },
  { name: 'Fastify: fastifyNgi at /legacy', converts: true, sendsWhole: true, prefix: PREFIX, start: (app) => listenFastify(app, false) },
  { name: 'Fastify: fastifyNgi at /legacy, direct', converts: false, sendsWhole: false, prefix: PREFIX, start: (app) => listenFastify(app, true) },
  { name: 'Koa: koa-mount /legacy, toKoa(fromExpress(app))', converts: true, sendsWhole: true, prefix: PREFIX, start: (app) => listenKoa(app, false) },
  { name: 'Koa: koa-mount /legacy, toKoa(fromExpress(app)), direct', converts: false, sendsWhole: false, prefix: PREFIX, start: (app) => listenKoa(app, true) },
];

/** Headers that differ between any two servers: the clock and the connection. */
const VOLATILE = new Set(['date', 'connection', 'keep-alive']);

/** What two servers' answers must agree on: status, headers (but `without`, the volatile ones and the session id) and the decoded body. */
export function view(res: RawResponse, without: string[] = []) {
  const headers = res.headers
    .filter(([name]) => !VOLATILE.has(name) && !without.includes(name))
    .map(([name, value]): [string, string] => [name, name === 'set-cookie' ? value.replace(/^sid=[^;]+/, 'sid=…') : value])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : 1));
  const body = decoded(res);
  return { status: res.status, statusText: res.statusText, headers, body: createHash('sha256').update(body).digest('hex') };
}

/** The body with its Content-Encoding undone. */
function decoded(res: RawResponse): Buffer {
  const encoding = res.header('content-encoding');
  return encoding === 'gzip' ? gunzipSync(res.body) : encoding === 'br' ? brotliDecompressSync(res.body) : res.body;
}
