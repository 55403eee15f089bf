import { Readable } from 'node:stream';
import { cascade, mount, request, stream, type Application } from '@ngi/core';
import { tooLargeBody } from '../../../test/fixtures/too-large.ts';
import { serve } from '@ngi/node';
import compress from '@fastify/compress';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fromFastify } from '../src/index.ts';
import { deferred, listen, open, send, server, sleep, type Received, type Send } from './_helpers.ts';

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closing.splice(0).map((close) => close()));
});

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

async function served(app: Application): Promise<string> {
  const handle = await serve(app, { port: 0, errors: { write() {}, flush() {} } });
  closing.push(() => handle.close());
  return handle.url;
}

const HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse'] as const;

/** One Fastify app with the features whose results must not change when it runs as a callable. */
async function features(finished: string[]): Promise<FastifyInstance> {
  const fastify = server();
  const seen = new WeakMap<object, string[]>();
  const record = (request: object, hook: string): string[] => {
    const list = seen.get(request) ?? [];
    list.push(hook);
    seen.set(request, list);
    return list;
  };
  // Each hook with the arity Fastify expects of an async hook.
  fastify.addHook('onRequest', async (request) => void record(request, 'onRequest'));
  fastify.addHook('preParsing', async (request, _reply, payload) => (record(request, 'preParsing'), payload));
  fastify.addHook('preValidation', async (request) => void record(request, 'preValidation'));
  fastify.addHook('preHandler', async (request) => void record(request, 'preHandler'));
  fastify.addHook('preSerialization', async (request, _reply, payload) => (record(request, 'preSerialization'), payload));
  fastify.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-hooks', record(request, 'onSend').join(','));
    return payload;
  });
  fastify.addHook('onResponse', async (request) => {
    finished.push(`${request.method} ${request.url}: ${record(request, 'onResponse').join(',')}`);
  });
  await fastify.register(compress, { global: true });
  fastify.setNotFoundHandler((request, reply) => void reply.code(404).send({ missing: request.url }));
  fastify.setErrorHandler<Error & { statusCode?: number }>((error, _request, reply) => void reply.code(error.statusCode === 400 ? 400 : 418).send({ handled: error.message }));
  const item = { type: 'object', required: ['name'], properties: { name: { type: 'string' }, qty: { type: 'integer' } } };
  fastify.get('/json', { schema: { response: { 200: { type: 'object', properties: { hello: { type: 'string' } } } } } }, async () => ({ hello: 'world', hidden: 'dropped by the serializer' }));
  fastify.post('/items', { schema: { body: item, querystring: { type: 'object', properties: { n: { type: 'integer' } } } } }, async (request) => ({ body: request.body, query: request.query }));
  fastify.get('/stream', (_request, reply) => reply.type('text/plain').send(Readable.from(['a', 'b', 'c'])));
  fastify.get('/big', (_request, reply) => reply.type('text/plain').send('big '.repeat(2000)));
  fastify.get('/buffer', (_request, reply) => reply.send(Buffer.from([0, 1, 2, 255])));
  fastify.get('/throw', () => {
    throw new Error('sync failure');
  });
  fastify.get('/async-throw', async () => {
    throw new Error('async failure');
  });
  fastify.get('/cookies', (_request, reply) => reply.header('set-cookie', ['a=1', 'b=2']).redirect('/json', 303));
  return fastify;
}

const requests: [string, Send][] = [
  ['/json', {}],
  ['/json', { method: 'HEAD' }],
  ['/items?n=5', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"pen","qty":2}' }],
  ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":"many"}' }],
  ['/items', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{broken' }],
  ['/items', { method: 'POST', headers: { 'content-type': 'application/x-unknown' }, body: 'x' }],
  ['/stream', {}],
  ['/big', { headers: { 'accept-encoding': 'gzip' } }],
  ['/stream', { headers: { 'accept-encoding': 'gzip' } }],
  ['/buffer', {}],
  ['/throw', {}],
  ['/async-throw', {}],
  ['/missing/%E2%9C%93', {}],
  ['/cookies', {}],
];

/** What a client sees, minus what the connection decides (date, keep-alive). */
function visible(res: Received) {
  const headers = res.headers.filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name));
  return { status: res.status, statusText: res.statusText, headers, body: res.body.toString('base64') };
}

describe('fromFastify', () => {
  it('gives the same results as the app served natively: hooks order, schemas, parsers, streams, not-found and error handlers, compress', async () => {
    const logs = { native: [] as string[], passThrough: [] as string[], converted: [] as string[] };
    const urls = {
      native: await listen(await features(logs.native)),
      passThrough: await served(fromFastify(await features(logs.passThrough))),
      converted: await served(through(fromFastify(await features(logs.converted)))),
    };
    for (const [path, init] of requests) {
      const native = visible(await send(urls.native, path, init));
      expect(visible(await send(urls.passThrough, path, init)), `${init.method ?? 'GET'} ${path}`).toEqual(native);
      expect(visible(await send(urls.converted, path, init)), `${init.method ?? 'GET'} ${path}`).toEqual(native);
    }
    expect(logs.native).toHaveLength(requests.length);
    expect(logs.native[0]).toBe(`GET /json: ${HOOKS.join(',')}`);
    expect(logs.passThrough).toEqual(logs.native);
    expect(logs.converted).toEqual(logs.native);
  });

  it("§4.3 a body that fails with its client still there (the server's 413) reaches Fastify's error handler as that error", async () => {
    const fastify = server();
    fastify.post('/', async (request) => request.body);
    fastify.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => void reply.code(error.statusCode ?? 500).send(`handled: ${error.statusCode} ${error.message}`));
    const res = await request(fromFastify(fastify), { method: 'POST', body: tooLargeBody(16), headers: { 'content-type': 'application/json', 'content-length': '100' } });
    expect([res.status, res.text()]).toEqual([413, 'handled: 413 Request body exceeds the limit of 16 bytes']);
  });

  it('sets request.ip, protocol, hostname and port from environ, url relative to the mount and originalUrl in full', async () => {
    const fastify = server({ trustProxy: '10.0.0.1' });
    fastify.get('/who', async (request) => ({
      ip: request.ip,
      protocol: request.protocol,
      hostname: request.hostname,
      port: request.port,
      url: request.url,
      originalUrl: request.originalUrl,
    }));
    const app = mount({ '/api': fromFastify(fastify) });
    const direct = await request(app, { url: 'https://api.example.com:8443/api/who?x=1', remoteAddress: '10.0.0.7' });
    expect(direct.json()).toEqual({ ip: '10.0.0.7', protocol: 'https', hostname: 'api.example.com', port: 8443, url: '/who?x=1', originalUrl: '/api/who?x=1' });
    // Behind the proxy Fastify trusts, the forwarded client is what Fastify reports, as natively.
    const proxied = await request(app, {
      url: 'http://internal/api/who',
      remoteAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' },
    });
    expect(proxied.json()).toMatchObject({ ip: '203.0.113.9', protocol: 'https', hostname: 'shop.example' });
  });

  it('gives originalUrl at the mount point itself (PATH_INFO "") as the client sent it, with no "/" added', async () => {
    const fastify = server();
    fastify.get('/', async (request) => ({ url: request.url, originalUrl: request.originalUrl }));
    const app = mount({ '/api': fromFastify(fastify) });
    expect((await request(app, { url: '/api' })).json()).toEqual({ url: '/', originalUrl: '/api' });
    expect((await request(app, { url: '/api?x=1' })).json()).toEqual({ url: '/?x=1', originalUrl: '/api?x=1' });
    expect((await request(app, { url: '/api/' })).json()).toEqual({ url: '/', originalUrl: '/api/' });
  });

  it('§14.1 a not-found handler that marks its 404 x-cascade: pass lets cascade() go on to the next application', async () => {
    const fastify = server();
    fastify.get('/api/users', async () => ['ada']);
    fastify.setNotFoundHandler((_request, reply) => reply.code(404).header('x-cascade', 'pass').send());
    const site: Application = (_environ, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), ['the site']);
    const app = cascade([fromFastify(fastify), site]);
    expect((await request(app, { url: '/api/users' })).json()).toEqual(['ada']);
    expect((await request(app, { url: '/about' })).text()).toBe('the site');
  });

  it('calls ready() once, on the first request, and holds every early request until it resolves', async () => {
    const fastify = server();
    const gate = deferred();
    let readied = 0;
    void fastify.register(async () => {
      await gate.promise; // a plugin still loading
    });
    fastify.addHook('onReady', async () => void readied++);
    fastify.get('/', async () => 'ready');
    const app = fromFastify(fastify);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(readied).toBe(0);
    const early = [request(app), request(app), request(app)];
    await new Promise((resolve) => setTimeout(resolve, 10));
    gate.resolve();
    expect((await Promise.all(early)).map((res) => res.text())).toEqual(['ready', 'ready', 'ready']);
    expect((await request(app)).text()).toBe('ready');
    expect(readied).toBe(1);
  });

  it('answers 500 and logs why when the Fastify instance fails to start (§11.1)', async () => {
    const fastify = Fastify();
    void fastify.register(async () => {
      throw new Error('plugin broke');
    });
    const res = await request(fromFastify(fastify));
    expect(res.status).toBe(500);
    expect(res.errors.join('')).toMatch(/fromFastify: the Fastify instance failed to start: plugin broke/);
  });

  it('streams reply.send(stream) out chunk by chunk, and a client abort destroys the stream (§9.3, §12.1)', async () => {
    const fastify = server();
    const next = deferred();
    const destroyed = deferred();
    fastify.get('/ticks', (_request, reply) => {
      const ticks = new Readable({ read() {} });
      ticks.push('first;');
      void next.promise.then(() => ticks.push('second;'));
      ticks.once('close', () => destroyed.resolve());
      return reply.type('text/plain').send(ticks);
    });
    const res = await stream(through(fromFastify(fastify)), { url: '/ticks' });
    const reader = res.body[Symbol.asyncIterator]();
    expect(Buffer.from((await reader.next()).value!).toString()).toBe('first;');
    next.resolve();
    expect(Buffer.from((await reader.next()).value!).toString()).toBe('second;');
    await reader.return!();
    await destroyed.promise;
  });

  it('streams a large request body into Fastify\'s parsers and routes with backpressure (§4.3)', async () => {
    const fastify = server({ bodyLimit: 4 * 1024 * 1024 });
    fastify.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    fastify.post('/count', async (request) => {
      let size = 0;
      for await (const chunk of request.body as Readable) size += (chunk as Buffer).length;
      return { size };
    });
    const url = await served(through(fromFastify(fastify)));
    const res = await open(url, '/count', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Readable.from([Buffer.alloc(3 * 1024 * 1024, 7)]) });
    let text = '';
    for await (const chunk of res) text += String(chunk);
    expect(JSON.parse(text)).toEqual({ size: 3 * 1024 * 1024 });
  });

  it('hangs up a request idle past Fastify\'s connectionTimeout and runs its onTimeout hooks, as natively', async () => {
    const timedOut = { native: [] as string[], passThrough: [] as string[], converted: [] as string[] };
    const hanging = (log: string[]): FastifyInstance => {
      const fastify = server({ connectionTimeout: 100 });
      fastify.addHook('onTimeout', async (request) => void log.push(request.url));
      fastify.get('/hang', () => new Promise(() => {}));
      return fastify;
    };
    const urls = {
      native: await listen(hanging(timedOut.native)),
      passThrough: await served(fromFastify(hanging(timedOut.passThrough))),
      converted: await served(through(fromFastify(hanging(timedOut.converted)))),
    };
    for (const [name, url] of Object.entries(urls)) {
      // Bounded: without the timeout the request would wait for the server's own limits.
      const client = new AbortController();
      const outcome = await Promise.race([
        send(url, '/hang', { signal: client.signal }).then((res) => `answered ${res.status}`, () => 'hung up'),
        sleep(5000).then(() => 'still waiting'),
      ]);
      client.abort();
      expect([name, outcome]).not.toEqual([name, 'still waiting']);
    }
    expect(timedOut).toEqual({ native: ['/hang'], passThrough: ['/hang'], converted: ['/hang'] });
  });

  it('runs no onRequestAbort hook after its 413 for a body past bodyLimit, as natively', async () => {
    const names = ['native', 'passThrough', 'converted'] as const;
    const hooks = { native: [] as string[], passThrough: [] as string[], converted: [] as string[] };
    const closed = { native: deferred(), passThrough: deferred(), converted: deferred() };
    const limited = (name: (typeof names)[number]): FastifyInstance => {
      const fastify = server({ bodyLimit: 10 });
      fastify.addHook('onRequest', async (request) => void request.raw.once('close', () => closed[name].resolve()));
      fastify.addHook('onRequestAbort', async (_request) => void hooks[name].push('onRequestAbort'));
      fastify.addHook('onResponse', async (_request, reply) => void hooks[name].push(`onResponse ${reply.statusCode}`));
      fastify.post('/', async (request) => request.body);
      return fastify;
    };
    const urls = { native: await listen(limited('native')), passThrough: await served(fromFastify(limited('passThrough'))), converted: await served(through(fromFastify(limited('converted')))) };
    for (const name of names) {
      const body = (async function* () {
        yield 'x'.repeat(100);
        yield 'y'.repeat(100);
      })();
      const res = await send(urls[name], '/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body });
      expect([name, res.status]).toEqual([name, 413]);
      // onRequestAbort runs when the request closes aborted: wait for the close, if it comes.
      await Promise.race([closed[name].promise, sleep(1000)]);
      await sleep(10);
    }
    expect(hooks).toEqual({ native: ['onResponse 413'], passThrough: ['onResponse 413'], converted: ['onResponse 413'] });
  });

  it('refuses what is not a Fastify instance', () => {
    expect(() => fromFastify({} as never)).toThrow(/expected a Fastify instance/);
    // fromKoa's option, which would do nothing here.
    expect(() => fromFastify(Fastify(), { cascade: true } as never)).toThrow('fromFastify: unknown option "cascade"; it takes none');
  });
});
