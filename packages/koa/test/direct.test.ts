import { Readable } from 'node:stream';
import { fromNodeListener } from '@ngi/node';
import type { Middleware } from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { fromKoa, toKoa } from '../src/index.ts';
import { closeAll, fetchRaw, listen, quietKoa } from './_helpers.ts';

afterEach(closeAll);

describe('toKoa with direct: the listener answers on Koa\'s own res', () => {
  it('a body set upstream is not sent, so neither are the Content-Length and Content-Type Koa set for it; passed on, it is', async () => {
    // A default body, set before the rest of the chain may replace it (an empty 200 here).
    const upstream: Middleware = async (ctx, next) => {
      ctx.body = '';
      await next();
    };
    // A listener that streams: it sets no Content-Length, and no Content-Type either.
    const streaming = fromNodeListener((_req, res) => {
      res.write('hello ');
      setImmediate(() => res.end('world'));
    });
    // Koa natively: a later middleware's stream body replaces the default and is framed by its own end.
    const native = await listen(quietKoa().use(upstream).use((ctx) => void (ctx.body = Readable.from(['hello ', 'world']))));
    const direct = await listen(quietKoa().use(upstream).use(toKoa(streaming, { direct: true })));
    const converted = await listen(quietKoa().use(upstream).use(toKoa(streaming)));
    const view = async (url: string, method = 'GET') => {
      const res = await fetchRaw(url, '/', { method });
      return { body: res.text(), length: res.header('content-length'), framing: res.header('transfer-encoding') };
    };
    const expected = { body: 'hello world', length: undefined, framing: 'chunked' };
    expect(await view(native.url)).toEqual(expected);
    expect(await view(direct.url)).toEqual(expected);
    // Converted, the callable's body ends in the turn it started, so Koa measures it whole (same bytes).
    expect(await view(converted.url)).toEqual({ body: 'hello world', length: '11', framing: undefined });
    // §10.3: a HEAD answer carries no length the listener did not give.
    expect((await view(direct.url, 'HEAD')).length).toBeUndefined();
    // Content-Type describes the listener's body, as under the conversion: none given, none sent.
    expect((await fetchRaw(direct.url, '/')).header('content-type')).toBeUndefined();

    // A request the listener passes on (Koa's own 404 with cascade) leaves the default body to Koa, whole.
    const passing = await listen(
      quietKoa()
        .use(async (ctx, next) => {
          ctx.body = 'a default body';
          await next();
        })
        .use(toKoa(fromKoa(quietKoa(), { cascade: true }), { direct: true })),
    );
    const passed = await fetchRaw(passing.url, '/');
    expect([passed.status, passed.text(), passed.header('content-length'), passed.header('content-type')]).toEqual([200, 'a default body', '14', 'text/plain; charset=utf-8']);
  });

  it('a request passed on keeps the Content-Type set upstream, which the Koa app\'s own 404 had set to text/plain', async () => {
    const host = (middle: Middleware) =>
      quietKoa()
        .use(async (ctx, next) => {
          ctx.type = 'html'; // what the rest of the chain answers with
          await next();
        })
        .use(middle)
        .use((ctx) => void (ctx.body = '<p>host page</p>'));
    const declining = () => fromKoa(quietKoa(), { cascade: true });
    // Natively, a middleware with nothing to say only calls next().
    const servers = [host((_ctx, next) => next()), host(toKoa(declining())), host(toKoa(declining(), { direct: true }))];
    for (const server of servers) {
      const res = await fetchRaw((await listen(server)).url, '/');
      expect([res.status, res.header('content-type'), res.header('content-length'), res.text()]).toEqual([200, 'text/html; charset=utf-8', '16', '<p>host page</p>']);
    }
  });
});
