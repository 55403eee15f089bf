import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { mount, request, type Application } from '@ngi/core';
import { serve } from '@ngi/node';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifyNgi, fromFastify } from '../src/index.ts';
import { send, type Received, type Send } from './_helpers.ts';

/**
 * Fastify 4, at its end of life since June 2025, which legacy apps still run on. Its API is
 * Fastify 5's as far as these tests go; the types are Fastify 5's.
 */
const Fastify4 = createRequire(import.meta.url)('fastify4') as (options?: FastifyServerOptions) => FastifyInstance;

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((close) => close()));
});

function fastify4(options: FastifyServerOptions = {}): FastifyInstance {
  const fastify = Fastify4(options);
  closing.push(() => fastify.close());
  return fastify;
}

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

async function served(app: Application): Promise<string> {
  const handle = await serve(app, { port: 0, errors: { write() {}, flush() {} } });
  closing.push(() => handle.close());
  return handle.url;
}

/** A Fastify 4 app with hooks, a schema, a parsed body, a stream, and its own not-found and error handlers. */
function legacyApp(finished: string[]): FastifyInstance {
  const fastify = fastify4();
  fastify.addHook('onSend', async (_request, reply, payload) => (reply.header('x-hooked', 'onSend'), payload));
  fastify.addHook('onResponse', async (request, reply) => void finished.push(`${request.method} ${request.url} ${reply.statusCode}`));
  fastify.setNotFoundHandler((request, reply) => void reply.code(404).send({ missing: request.url }));
  fastify.setErrorHandler<Error & { statusCode?: number }>((error, _request, reply) => void reply.code(error.statusCode === 400 ? 400 : 418).send({ handled: error.message }));
  const item = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } };
  fastify.post('/items', { schema: { body: item } }, async (request) => ({ body: request.body }));
  fastify.get('/stream', (_request, reply) => reply.type('text/plain').send(Readable.from(['a', 'b', 'c'])));
  fastify.get('/throw', async () => {
    throw new Error('async failure');
  });
  return fastify;
}

const requests: [string, Send][] = [
  ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"pen"}' }],
  ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }],
  ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{broken' }],
  ['/stream', {}],
  ['/stream', { method: 'HEAD' }],
  ['/throw', {}],
  ['/missing/%E2%9C%93', {}],
];

function visible(res: Received) {
  const headers = res.headers.filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));
  return { status: res.status, headers, body: res.body.toString('base64') };
}

describe('Fastify 4', () => {
  it('fromFastify serves a Fastify 4 app as it answers natively: hooks, schema errors, streams, not-found and error handlers', async () => {
    const logs = { native: [] as string[], passThrough: [] as string[], converted: [] as string[] };
    const native = legacyApp(logs.native);
    await native.listen({ port: 0, host: '127.0.0.1' });
    const urls = {
      native: `http://127.0.0.1:${(native.server.address() as AddressInfo).port}`,
      passThrough: await served(fromFastify(legacyApp(logs.passThrough))),
      converted: await served(through(fromFastify(legacyApp(logs.converted)))),
    };
    for (const [path, init] of requests) {
      const expected = visible(await send(urls.native, path, init));
      expect(visible(await send(urls.passThrough, path, init)), `${init.method ?? 'GET'} ${path}`).toEqual(expected);
      expect(visible(await send(urls.converted, path, init)), `${init.method ?? 'GET'} ${path}`).toEqual(expected);
    }
    expect(logs.native).toContain('POST /items 400');
    expect(logs.passThrough).toEqual(logs.native);
    expect(logs.converted).toEqual(logs.native);
  });

  it('fromFastify under a mount: request.ip, protocol and hostname (with its port, as Fastify 4 has it) from the environ', async () => {
    const fastify = fastify4({ trustProxy: '10.0.0.1' });
    fastify.get('/who', async (request) => ({ ip: request.ip, protocol: request.protocol, hostname: request.hostname, url: request.url, originalUrl: request.originalUrl }));
    const app = mount({ '/api': fromFastify(fastify) });
    const direct = await request(app, { url: 'https://api.example.com:8443/api/who?x=1', remoteAddress: '10.0.0.7' });
    expect(direct.json()).toEqual({ ip: '10.0.0.7', protocol: 'https', hostname: 'api.example.com:8443', url: '/who?x=1', originalUrl: '/api/who?x=1' });
  });

  it('the fastifyNgi plugin is refused by Fastify 4 with the version it needs', async () => {
    const fastify = fastify4();
    const hello: Application = (_environ, startResponse) => (startResponse('200 OK', []), ['']);
    await expect(fastify.register(fastifyNgi, { prefix: '/legacy', app: hello })).rejects.toMatchObject({ code: 'FST_ERR_PLUGIN_VERSION_MISMATCH', message: expect.stringContaining("expected '5.x' fastify version") });
  });
});
