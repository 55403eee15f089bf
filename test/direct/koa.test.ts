import { IncomingMessage, ServerResponse } from 'node:http';
import type { Application } from '@ngi/core';
import { fromExpress, toExpress } from '@ngi/express';
import { fromKoa, toKoa } from '@ngi/koa';
import { fromNodeListener, serve, toNodeListener } from '@ngi/node';
import express from 'express';
import mount from 'koa-mount';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchRaw } from '../conformance/client.ts';
import { legacy } from './_legacy.ts';
import { listen, through } from '../conformance/helpers.ts';
import type { ConformanceServer } from '../conformance/suite.ts';

const servers: ConformanceServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serveKoa(koa: Koa): Promise<string> {
  koa.silent = true;
  const server = await listen(koa.callback());
  servers.push(server);
  return server.url;
}

describe('toKoa with direct: an Express app on Koa\'s own req and res', () => {
  it('answers on Koa\'s own res with 200 (not Koa\'s preset 404) once, keeps headers set upstream, and upstream resumes after the response', async () => {
    const order: string[] = [];
    let expressRes: unknown;
    const app = legacy((_req, res) => (expressRes = res));
    const koa = new Koa()
      .use(async (ctx, next) => {
        ctx.set('x-request-id', 'r1');
        await next();
        order.push(`upstream resumed, finished=${String(ctx.res.writableFinished)}, same res=${String(expressRes === ctx.res)}`);
      })
      .use(toKoa(fromExpress(app), { direct: true }));
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/hello?x=1');
    expect([res.status, res.text(), res.header('x-request-id')]).toEqual([200, 'hello from express', 'r1']);
    expect(JSON.parse(res.header('x-saw')!)).toEqual({ url: '/hello?x=1', baseUrl: '', originalUrl: '/hello?x=1' });
    expect(order).toEqual(['upstream resumed, finished=true, same res=true']);
  });

  it('under koa-mount, Express sees the prefix as req.baseUrl and the rest as req.url', async () => {
    const koa = new Koa().use(mount('/legacy', new Koa().use(toKoa(fromExpress(legacy()), { direct: true }))));
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/legacy/hello?q=%20');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.header('x-saw')!)).toEqual({ url: '/hello?q=%20', baseUrl: '/legacy', originalUrl: '/legacy/hello?q=%20' });
  });

  it('a request no Express route answers goes on to await next(), with Koa\'s req, res and status back', async () => {
    let seen: unknown;
    const koa = new Koa()
      .use(toKoa(fromExpress(legacy()), { direct: true }))
      .use((ctx) => {
        seen = {
          status: ctx.status,
          url: ctx.url,
          request: Object.getPrototypeOf(ctx.req) === IncomingMessage.prototype,
          response: Object.getPrototypeOf(ctx.res) === ServerResponse.prototype,
        };
        ctx.body = 'koa answered';
      });
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/elsewhere?a=b');
    expect([res.status, res.text(), res.header('x-powered-by')]).toEqual([200, 'koa answered', undefined]);
    expect(seen).toEqual({ status: 404, url: '/elsewhere?a=b', request: true, response: true });
  });

  it('a request passed on leaves no req.baseUrl or req.originalUrl behind for the Express app or Koa middleware after it', async () => {
    const next = express().get('/legacy/x', (req, res) => void res.json({ baseUrl: req.baseUrl, originalUrl: req.originalUrl }));
    const koa = new Koa()
      .use(mount('/legacy', toKoa(fromExpress(legacy()), { direct: true })))
      .use(toKoa(fromExpress(next), { direct: true }))
      .use((ctx) => void (ctx.body = { baseUrl: 'baseUrl' in ctx.req, originalUrl: 'originalUrl' in ctx.req }));
    const url = await serveKoa(koa);
    expect((await fetchRaw(url, '/legacy/x')).json()).toEqual({ baseUrl: '', originalUrl: '/legacy/x' });
    expect((await fetchRaw(url, '/legacy/y')).json()).toEqual({ baseUrl: false, originalUrl: false });
  });

  it('a route calling next(null), which Express takes for next(), passes the request on rather than failing it', async () => {
    const koa = new Koa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          ctx.body = `caught ${String(error)}`;
        }
      })
      .use(toKoa(fromExpress(express().get('/null', (_req, _res, next) => next(null))), { direct: true }))
      .use((ctx) => void (ctx.body = 'koa answered'));
    const url = await serveKoa(koa);
    expect((await fetchRaw(url, '/null')).text()).toBe('koa answered');
  });

  it('a route that answers and then passes the request on: its answer stands, nothing after it answers, the process lives on', async () => {
    let reached = 0;
    const koa = new Koa()
      .use(toKoa(fromExpress(legacy()), { direct: true }))
      .use((ctx) => void ((reached += 1), (ctx.body = 'KOA')));
    const url = await serveKoa(koa);
    const answered = await fetchRaw(url, '/answered-then-next');
    expect([answered.status, answered.text()]).toEqual([200, '{"answered":true}']);
    // A response begun cannot be completed: it is cut, not followed by Koa's body.
    const begun = await fetchRaw(url, '/begun-then-next').then((res) => res.text(), () => 'cut');
    expect([begun, reached]).toEqual(['cut', 0]);
    expect((await fetchRaw(url, '/hello')).status).toBe(200);
  });

  it('a request passed on keeps ctx.respond = false set upstream, which answers on ctx.res itself', async () => {
    const koa = new Koa()
      .use(async (ctx, next) => {
        ctx.respond = false;
        await next();
        // Answered later, by other code: Koa must not have answered in the meantime.
        setTimeout(() => ctx.res.writeHead(203, { 'content-type': 'text/plain' }).end('upstream answered'), 20);
      })
      .use(toKoa(fromExpress(legacy()), { direct: true }));
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/elsewhere');
    expect([res.status, res.text()]).toEqual([203, 'upstream answered']);
  });

  it('without cascade, a request no route answers gets Express\'s own 404', async () => {
    let reached = false;
    const koa = new Koa()
      .use(toKoa(fromExpress(legacy()), { direct: true, cascade: false }))
      .use(() => void (reached = true));
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/elsewhere');
    expect([res.status, res.text().includes('Cannot GET /elsewhere'), reached]).toEqual([404, true, false]);
  });

  it('§11.1 an error before the head is thrown into Koa; §11.2 after it the connection is dropped', async () => {
    const caught: string[] = [];
    const koa = new Koa()
      .use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          caught.push((error as Error).message);
          ctx.status = 503;
          ctx.body = 'handled upstream';
        }
      })
      .use(toKoa(fromExpress(legacy()), { direct: true }));
    const url = await serveKoa(koa);
    const early = await fetchRaw(url, '/fail');
    expect([early.status, early.text(), caught]).toEqual([503, 'handled upstream', ['route failed']]);
    await expect(fetchRaw(url, '/fail-late')).rejects.toThrow();
  });

  it('a body a parser before it already read is handed over through the conversion', async () => {
    const koa = new Koa()
      // What a body parser leaves: the stream read, the parsed body and the raw text kept.
      .use(async (ctx, next) => {
        const parts: Buffer[] = [];
        for await (const part of ctx.req) parts.push(part as Buffer);
        const raw = Buffer.concat(parts).toString();
        Object.assign(ctx.request, { body: JSON.parse(raw) as unknown, rawBody: raw });
        await next();
      })
      .use(toKoa(fromExpress(legacy()), { direct: true }));
    const url = await serveKoa(koa);
    const res = await fetchRaw(url, '/json', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect([res.status, res.text()]).toEqual([200, '{"got":{"a":1}}']);
  });

  it('inside an NGI server\'s full conversion (fromKoa), Express reads the request body from the outer server', async () => {
    const koa = new Koa().use(mount('/legacy', new Koa().use(toKoa(fromExpress(legacy()), { direct: true }))));
    koa.silent = true;
    const server = await listen(toNodeListener(through(fromKoa(koa))) as never);
    servers.push(server);
    const body = Buffer.alloc(200 * 1024, 3);
    const res = await fetchRaw(server.url, '/legacy/echo', { method: 'POST', body });
    expect([res.status, Buffer.compare(res.body, body)]).toEqual([200, 0]);
  });

  it('§4.4 §4.5 served by an NGI server that hands Koa Node\'s own request, a callable inside keeps its ngi.errors and ngi.multiprocess', async () => {
    const report: Application = (environ, startResponse) => {
      environ['ngi.errors'].write(`reported at ${environ.SCRIPT_NAME}\n`);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [String(environ['ngi.multiprocess'])];
    };
    const koa = new Koa()
      .use(mount('/mounted', toKoa(fromExpress(express().use('/inner', toExpress(report))), { direct: true })))
      .use(mount('/converted', toKoa(report)))
      .use(toKoa(fromExpress(express().use('/inner', toExpress(report))), { direct: true }));
    const lines: string[] = [];
    const server = await serve(fromKoa(koa), { port: 0, errors: { write: (line) => void lines.push(line), flush() {} }, multiprocess: true, gracefulTimeout: 0 });
    servers.push(server);
    for (const path of ['/inner/x', '/mounted/inner/x', '/converted/x']) expect([path, (await fetchRaw(server.url, path)).text()]).toEqual([path, 'true']);
    expect(lines).toEqual(['reported at /inner\n', 'reported at /mounted/inner\n', 'reported at /converted\n']);
  });

  it('a plain Node listener runs directly too; a callable that wraps none is refused', async () => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      res.end(`plain ${req.url ?? ''} ${String(Object.getPrototypeOf(res) === ServerResponse.prototype)}`);
    };
    const url = await serveKoa(new Koa().use(toKoa(fromNodeListener(listener), { direct: true })));
    expect((await fetchRaw(url, '/p?q')).text()).toBe('plain /p?q true');
    expect(() => toKoa(() => ['x'], { direct: true })).toThrow('toKoa: options.direct needs an application made by fromNodeListener, fromExpress, fromKoa or fromFastify');
  });
});
