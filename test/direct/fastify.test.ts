import { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { fromNodeListener } from '@ngi/node';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchRaw } from '../conformance/client.ts';
import { uploadAfterAnswer } from '../fixtures/upload-after-answer.ts';
import { legacy } from './_legacy.ts';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function serveFastify(fastify: FastifyInstance): Promise<string> {
  apps.push(fastify);
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
}

describe('fastifyNgi with direct: an Express app on Fastify\'s own req and res', () => {
  it('answers with Express\'s own response on reply.raw, keeps headers set on reply before, runs onResponse hooks, not onSend', async () => {
    const finished: string[] = [];
    let expressRes: unknown;
    const fastify = Fastify();
    fastify.addHook('onRequest', async (_request, reply) => void reply.header('x-request-id', 'r1'));
    fastify.addHook('onSend', async () => void finished.push('onSend'));
    fastify.addHook('onResponse', async (request, reply) => {
      finished.push(`${reply.statusCode} same res=${String(expressRes === reply.raw)} url=${request.url}`);
    });
    await fastify.register(fastifyNgi, { app: fromExpress(legacy((_req, res) => (expressRes = res))), direct: true });
    const url = await serveFastify(fastify);
    const res = await fetchRaw(url, '/hello?x=1');
    expect([res.status, res.text(), res.header('x-request-id'), res.header('etag') !== undefined]).toEqual([200, 'hello from express', 'r1', true]);
    expect(JSON.parse(res.header('x-saw')!)).toEqual({ url: '/hello?x=1', baseUrl: '', originalUrl: '/hello?x=1' });
    expect(finished).toEqual(['200 same res=true url=/hello?x=1']);
  });

  it('a route that answers and then passes the request on: its answer stands, Fastify\'s not-found handler does not run', async () => {
    let notFound = 0;
    const fastify = Fastify();
    fastify.setNotFoundHandler((_request, reply) => void ((notFound += 1), reply.code(404).send('fastify 404')));
    await fastify.register(fastifyNgi, { app: fromExpress(legacy()), direct: true });
    const url = await serveFastify(fastify);
    const answered = await fetchRaw(url, '/answered-then-next');
    expect([answered.status, answered.text()]).toEqual([200, '{"answered":true}']);
    const begun = await fetchRaw(url, '/begun-then-next').then((res) => res.text(), () => 'cut');
    expect([begun, notFound]).toEqual(['cut', 0]);
  });

  it('under a prefix, Express sees it as req.baseUrl; the request body streams to Express unread', async () => {
    const fastify = Fastify();
    await fastify.register(fastifyNgi, { prefix: '/legacy', app: fromExpress(legacy()), direct: true });
    const urls: string[] = [];
    fastify.addHook('onResponse', async (request) => void urls.push(request.url));
    const url = await serveFastify(fastify);
    const hello = await fetchRaw(url, '/legacy/hello?q=%20');
    expect(JSON.parse(hello.header('x-saw')!)).toEqual({ url: '/hello?q=%20', baseUrl: '/legacy', originalUrl: '/legacy/hello?q=%20' });
    const body = Buffer.alloc(256 * 1024, 7);
    const echo = await fetchRaw(url, '/legacy/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect([echo.status, Buffer.compare(echo.body, body)]).toEqual([200, 0]);
    // Answered, the request is back as Fastify passed it: its hooks see the full URL.
    expect(urls).toEqual(['/legacy/hello?q=%20', '/legacy/echo']);
  });

  it('a request no Express route answers goes to Fastify\'s not-found handler', async () => {
    const fastify = Fastify();
    fastify.setNotFoundHandler((request, reply) => {
      const plain = Object.getPrototypeOf(request.raw) === IncomingMessage.prototype && Object.getPrototypeOf(reply.raw) === ServerResponse.prototype;
      void reply.code(404).send(`fastify not found ${request.raw.url ?? ''} ${String(plain)}`);
    });
    await fastify.register(fastifyNgi, { app: fromExpress(legacy()), direct: true });
    const url = await serveFastify(fastify);
    const res = await fetchRaw(url, '/elsewhere?a=b');
    expect([res.status, res.text()]).toEqual([404, 'fastify not found /elsewhere?a=b true']);
  });

  it('a request passed on reaches the not-found handler without the req.baseUrl and req.originalUrl Express set', async () => {
    const fastify = Fastify();
    fastify.setNotFoundHandler((request, reply) => void reply.code(404).send({ baseUrl: 'baseUrl' in request.raw, originalUrl: 'originalUrl' in request.raw }));
    await fastify.register(fastifyNgi, { prefix: '/legacy', app: fromExpress(legacy()), direct: true });
    await fastify.register(fastifyNgi, { app: fromExpress(legacy()), direct: true });
    const url = await serveFastify(fastify);
    for (const path of ['/legacy/elsewhere', '/elsewhere']) expect([path, (await fetchRaw(url, path)).json()]).toEqual([path, { baseUrl: false, originalUrl: false }]);
  });

  it('§11.1 an error before the head goes to Fastify\'s error handler; §11.2 after it the connection is dropped', async () => {
    const fastify = Fastify();
    fastify.setErrorHandler((error, _request, reply) => void reply.code(503).send(`handled: ${(error as Error).message}`));
    await fastify.register(fastifyNgi, { app: fromExpress(legacy()), direct: true });
    const url = await serveFastify(fastify);
    const early = await fetchRaw(url, '/fail');
    expect([early.status, early.text()]).toEqual([503, 'handled: route failed']);
    await expect(fetchRaw(url, '/fail-late')).rejects.toThrow();
  });

  it.each([
    ['run directly', true, 'the listener threw 0'],
    ['converted', false, '@ngi/fastify: the application threw 0'],
  ])('§11.1 what is not an Error goes to the error handler as one (%s), not out as a payload; Express\'s next(null) passes on', async (_how, direct, zero) => {
    const fastify = Fastify();
    fastify.setNotFoundHandler((_request, reply) => void reply.code(404).send('fastify 404'));
    type Failure = Error & { statusCode?: number; code?: string };
    fastify.setErrorHandler((error: Failure, _request, reply) => void reply.code(599).send(`handled: ${error.message} ${error.statusCode ?? '-'} ${error.code ?? '-'}`));
    const app = express()
      .get('/null', (_req, _res, next) => next(null))
      .get('/forbidden', (_req, _res, next) => next('forbidden'))
      .get('/maintenance', (_req, _res, next) => next({ statusCode: 503, message: 'maintenance', code: 'MAINT' }));
    await fastify.register(fastifyNgi, { app: fromExpress(app), direct });
    const throwing = fromNodeListener(() => {
      throw 0;
    });
    await fastify.register(fastifyNgi, { prefix: '/plain', app: throwing, direct });
    const url = await serveFastify(fastify);
    const seen = async (path: string) => {
      const res = await fetchRaw(url, path);
      return [res.status, res.text()];
    };
    expect(await seen('/null')).toEqual([404, 'fastify 404']);
    expect(await seen('/forbidden')).toEqual([599, 'handled: forbidden - -']);
    // A plain object (Express 4 code's next({ status, message })) keeps its message and fields.
    expect(await seen('/maintenance')).toEqual([599, 'handled: maintenance 503 MAINT']);
    expect(await seen('/plain/x')).toEqual([599, `handled: ${zero} - -`]);
  });

  it('§12.3 what the listener leaves of the body is drained up to drainLimit, past which the connection closes', async () => {
    const fastify = Fastify();
    const refuses = fromNodeListener((_req, res) => void res.writeHead(401, { 'content-type': 'text/plain' }).end('no'));
    await fastify.register(fastifyNgi, { app: refuses, direct: true, drainLimit: 10_000 });
    expect(await uploadAfterAnswer(await serveFastify(fastify))).toBe('HTTP/1.1 401 Unauthorized, closed');
  });

  it('a plain Node listener runs directly too; a callable that wraps none is refused', async () => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      res.end(`plain ${req.url ?? ''} ${String(Object.getPrototypeOf(res) === ServerResponse.prototype)}`);
    };
    const fastify = Fastify();
    await fastify.register(fastifyNgi, { app: fromNodeListener(listener), direct: true });
    const url = await serveFastify(fastify);
    expect((await fetchRaw(url, '/p?q')).text()).toBe('plain /p?q true');
    const refusing = Fastify();
    apps.push(refusing);
    await expect(refusing.register(fastifyNgi, { app: () => ['x'], direct: true })).rejects.toThrow(
      '@ngi/fastify: options.direct needs an application made by fromNodeListener, fromExpress, fromKoa or fromFastify',
    );
  });
});
