import type { IncomingMessage } from 'node:http';
import { bodyParser } from '@koa/bodyparser';
import { mount as ngiMount, readBody, type Application } from '@ngi/core';
import { fromNodeListener } from '@ngi/node';
import type { Middleware } from 'koa';
import mountKoa from 'koa-mount';
import { afterEach, describe, expect, it } from 'vitest';
import { fromKoa, toKoa } from '../src/index.ts';
import { closeAll, fetchRaw, listen, quietKoa } from './_helpers.ts';

afterEach(closeAll);

/** A callable that answers "not mine" (§14.1) and counts how often its body was closed. */
function notMine(): Application & { closed: number } {
  const app = Object.assign<Application, { closed: number }>(
    (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return Object.assign(['not mine'], { close: () => void app.closed++ });
    },
    { closed: 0 },
  );
  return app;
}

/** The Koa middleware after the callable: answers with what it could read of the body. */
const after: Middleware = async (ctx) => {
  let body = '';
  for await (const chunk of ctx.req) body += (chunk as Buffer).toString();
  ctx.status = 200;
  ctx.body = `next middleware; body=${body}`;
};

describe('toKoa: falling through with x-cascade: pass (§14.1)', () => {
  it('a 404 with x-cascade: pass goes on to await next(), the callable body closed once and never sent', async () => {
    const callable = notMine();
    const server = await listen(quietKoa().use(toKoa(callable)).use(after));
    const res = await fetchRaw(server.url, '/x', { method: 'POST', body: 'payload' });
    expect([res.status, res.text(), res.header('x-cascade'), callable.closed]).toEqual([200, 'next middleware; body=payload', undefined, 1]);
  });

  it('a declined response written to without awaiting: the write resolves, the next middleware answers, the process lives on', async () => {
    const rejections: unknown[] = [];
    const record = (reason: unknown): void => void rejections.push(reason);
    process.on('unhandledRejection', record);
    try {
      const writes: Application = (_environ, startResponse) => {
        void startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']])('not mine'); // not awaited
        return [];
      };
      const server = await listen(quietKoa().use(toKoa(writes)).use(after));
      const res = await fetchRaw(server.url, '/x');
      await new Promise((resolve) => setTimeout(resolve, 20)); // the turns in which a dropped rejection would be reported
      expect([res.status, res.text(), rejections]).toEqual([200, 'next middleware; body=', []]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('a dozen callables that decline in turn leave no close listener each on the response', async () => {
    // Each declines a turn later and reads ngi.signal: Node warns past ten listeners on one emitter.
    const later: Application = async (environ, startResponse) => {
      await new Promise((resolve) => setImmediate(resolve));
      void environ['ngi.signal'].aborted;
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return ['not mine'];
    };
    let listeners = -1;
    const koa = quietKoa();
    for (let i = 0; i < 12; i++) koa.use(toKoa(later));
    koa.use((ctx) => {
      listeners = ctx.res.listenerCount('close');
      ctx.body = 'last';
    });
    const server = await listen(koa);
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.text()]).toEqual([200, 'last']);
    expect(listeners).toBeLessThanOrEqual(3);
  });

  it('a declining callable with a long body is stopped and closed at its first chunk, nothing logged', async () => {
    let closed = 0;
    let produced = 0;
    const logged: string[] = [];
    const endless: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      // Bounded, so a regression fails here instead of running for ever.
      const body = (function* () {
        while (produced < 10_000) yield `not mine ${produced++}`;
      })();
      return Object.assign(body, { close: () => void closed++ });
    };
    const koa = quietKoa().use(toKoa(endless, { errors: { write: (m) => void logged.push(m), flush() {} } })).use(after);
    const server = await listen(koa);
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.text()]).toEqual([200, 'next middleware; body=']);
    expect([closed, produced, logged]).toEqual([1, 1, []]);
  });

  it('falls through from an NGI mount table whose fallback declines', async () => {
    const api: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['api'];
    };
    // mount's default fallback is a 404 with x-cascade: pass.
    const server = await listen(quietKoa().use(toKoa(ngiMount({ '/api': api }))).use(after));
    expect((await fetchRaw(server.url, '/api/x')).text()).toBe('api');
    expect((await fetchRaw(server.url, '/other')).text()).toBe('next middleware; body=');
  });

  it('with cascade: false, or once the callable read the request body, the 404 is sent as it is', async () => {
    const reader: Application = async (environ, startResponse) => {
      await readBody(environ);
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return ['read it, not mine'];
    };
    const off = await listen(quietKoa().use(toKoa(notMine(), { cascade: false })).use(after));
    const offRes = await fetchRaw(off.url, '/');
    expect([offRes.status, offRes.text(), offRes.header('x-cascade')]).toEqual([404, 'not mine', 'pass']);
    const read = await listen(quietKoa().use(toKoa(reader)).use(after));
    const readRes = await fetchRaw(read.url, '/', { method: 'POST', body: 'gone' });
    expect([readRes.status, readRes.text()]).toEqual([404, 'read it, not mine']);
  });

  it('with direct, a request the listener passes on after reading its body is answered 404, not passed on', async () => {
    // As an Express app with express.json() and no matching route: /read has its body read first.
    const listener = fromNodeListener((_req, res) => void res.writeHead(404).end('own 404'), {
      passOn: (req, _res, next) => {
        if (req.url !== '/read') return next();
        req.resume().once('end', () => next());
      },
    });
    const server = await listen(quietKoa().use(toKoa(listener, { direct: true })).use(after));
    const read = await fetchRaw(server.url, '/read', { method: 'POST', body: 'payload' });
    expect([read.status, read.text().startsWith('next middleware')]).toEqual([404, false]);
    const unread = await fetchRaw(server.url, '/unread', { method: 'POST', body: 'payload' });
    expect([unread.status, unread.text()]).toEqual([200, 'next middleware; body=payload']);
    expect((await fetchRaw(server.url, '/read')).text()).toBe('next middleware; body=');
  });

  it('a body a parser upstream read and handed over does not stop the fall-through: the next middleware still has ctx.request.body', async () => {
    const read: string[] = [];
    const reader: Application = async (environ, startResponse) => {
      read.push(Buffer.from(await readBody(environ)).toString());
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['x-cascade', 'pass']]);
      return ['read it, not mine'];
    };
    // As fromExpress(app), its express.json() reading the body, with no route for the request:
    // converted, it answers 404 with x-cascade: pass; run directly, it calls next().
    const readThen = (req: IncomingMessage, then: () => void): void => {
      const parts: Buffer[] = [];
      req.on('data', (part: Buffer) => void parts.push(part));
      req.once('end', () => {
        read.push(Buffer.concat(parts).toString());
        then();
      });
    };
    const listener = fromNodeListener((req, res) => readThen(req, () => res.writeHead(404, { 'x-cascade': 'pass' }).end('no route')), {
      passOn: (req, _res, next) => readThen(req, next),
    });
    const answer: Middleware = (ctx) => void (ctx.body = { next: ctx.request.body });
    for (const middle of [toKoa(reader), toKoa(listener, { direct: true })]) {
      const server = await listen(quietKoa().use(bodyParser()).use(middle).use(answer));
      const res = await fetchRaw(server.url, '/', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
      expect([res.status, res.json()]).toEqual([200, { next: { a: 1 } }]);
    }
    expect(read).toEqual(['{"a":1}', '{"a":1}']);
  });

  it('the header falls through in any letter case, as under toExpress and fastifyNgi', async () => {
    const shouting: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain'], ['X-Cascade', 'Pass']]);
      return ['not mine'];
    };
    const server = await listen(quietKoa().use(toKoa(shouting)).use(after));
    const res = await fetchRaw(server.url, '/');
    expect([res.status, res.text()]).toEqual([200, 'next middleware; body=']);
  });

  it('a plain 404 without x-cascade is an answer, not a fall-through', async () => {
    const plain: Application = (_environ, startResponse) => {
      startResponse('404 Not Found', [['content-type', 'text/plain']]);
      return ['no such thing'];
    };
    const server = await listen(quietKoa().use(toKoa(plain)).use(after));
    expect([(await fetchRaw(server.url, '/')).status]).toEqual([404]);
  });
});

describe('fromKoa: marking Koa\'s unhandled 404 (koa#846)', () => {
  /** A Koa app with one route, and ways to answer 404 on purpose. */
  function legacy(cascade: boolean): Application {
    const app = quietKoa().use(async (ctx, next) => {
      if (ctx.path === '/legacy-route') ctx.body = 'legacy';
      else if (ctx.path === '/explicit') ctx.status = 404;
      else if (ctx.path === '/thrown') ctx.throw(404, 'no such record');
      else if (ctx.path === '/raw') {
        ctx.respond = false;
        ctx.res.writeHead(404, { 'content-type': 'text/plain' });
        ctx.res.end('custom not found page');
      } else if (ctx.path === '/raw-implicit') {
        ctx.respond = false;
        ctx.res.statusCode = 404;
        ctx.res.end('custom not found page');
      } else if (ctx.path === '/raw-same-text') {
        // Koa's preset status and Koa's own text, written on ctx.res: still this app's answer.
        ctx.respond = false;
        ctx.res.end('Not Found');
      } else await next();
    });
    return fromKoa(app, { cascade });
  }

  it('with cascade: true only the 404 nothing handled carries x-cascade: pass, so the next middleware answers', async () => {
    const server = await listen(quietKoa().use(toKoa(legacy(true))).use(after));
    expect((await fetchRaw(server.url, '/legacy-route')).text()).toBe('legacy');
    expect((await fetchRaw(server.url, '/unknown')).text()).toBe('next middleware; body=');
    for (const path of ['/explicit', '/thrown', '/raw', '/raw-implicit', '/raw-same-text']) {
      const res = await fetchRaw(server.url, path);
      expect([path, res.status, res.header('x-cascade')]).toEqual([path, 404, undefined]);
    }
  });

  it('with direct, Koa\'s unhandled 404 goes on to the next middleware; the host\'s own 404 stays unmarked', async () => {
    const host = quietKoa()
      .use(toKoa(legacy(true), { direct: true }))
      .use(async (ctx, next) => {
        if (ctx.path === '/missing') return next();
        ctx.body = `host answered ${ctx.path}`;
      });
    const server = await listen(host);
    expect((await fetchRaw(server.url, '/legacy-route')).text()).toBe('legacy');
    const passed = await fetchRaw(server.url, '/elsewhere');
    expect([passed.status, passed.text(), passed.header('x-cascade')]).toEqual([200, 'host answered /elsewhere', undefined]);
    const head = await fetchRaw(server.url, '/elsewhere', { method: 'HEAD' });
    expect([head.status, head.header('x-cascade')]).toEqual([200, undefined]);
    const missing = await fetchRaw(server.url, '/missing');
    expect([missing.status, missing.text(), missing.header('x-cascade')]).toEqual([404, 'Not Found', undefined]);
    for (const path of ['/explicit', '/raw']) expect([path, (await fetchRaw(server.url, path)).status]).toEqual([path, 404]);
  });

  it('with direct, a status middleware upstream set before await next() leaves no reason phrase behind', async () => {
    const answering = fromNodeListener((_req, res) => {
      res.statusCode = 201;
      res.end('made');
    });
    const host = quietKoa()
      .use(async (ctx, next) => {
        ctx.status = 200; // a default the rest of the chain may change
        await next();
      })
      .use(mountKoa('/made', toKoa(answering, { direct: true })))
      .use(toKoa(legacy(true), { direct: true }))
      .use(async (ctx) => {
        ctx.body = `host answered ${ctx.path}`;
      });
    const server = await listen(host);
    const made = await fetchRaw(server.url, '/made');
    expect([made.status, made.statusText, made.text()]).toEqual([201, 'Created', 'made']);
    const passed = await fetchRaw(server.url, '/elsewhere');
    expect([passed.status, passed.statusText, passed.text()]).toEqual([200, 'OK', 'host answered /elsewhere']);
  });

  it('by default Koa\'s 404 is sent unchanged', async () => {
    const server = await listen(quietKoa().use(toKoa(legacy(false))).use(after));
    const res = await fetchRaw(server.url, '/unknown');
    expect([res.status, res.text(), res.header('x-cascade')]).toEqual([404, 'Not Found', undefined]);
  });
});
