import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { mount, type Application } from '@ngi/core';
import { baseUrlSymbol, serve, toNodeListener } from '@ngi/node';
import type Koa from 'koa';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { koaMajor } from '../../../test/fixtures/versions.ts';
import { fromKoa } from '../src/index.ts';
import type { RawRequest } from '../../../test/conformance/client.ts';
import { closeAll, errorsOf, fetchRaw, listen, open, quietKoa } from './_helpers.ts';

afterEach(closeAll);

/** Something in between: `toNodeListener` can no longer hand Node's own req and res through. */
const between = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

/** The ways one Koa app is served here: natively, and through fromKoa three ways. */
const WAYS = ['native', 'direct', 'converted', 'mounted'] as const;
type Way = (typeof WAYS)[number];

/** Serves a fresh app from `make` each way; `prefix` is where the app's root is for that way. */
async function serveEach(make: () => Koa): Promise<Record<Way, { url: string; prefix: string; app: Koa }>> {
  const apps = { native: make(), direct: make(), converted: make(), mounted: make() };
  const handles = await Promise.all([
    serve(fromKoa(apps.direct), { port: 0 }),
    serve(between(fromKoa(apps.converted)), { port: 0 }),
    serve(mount({ '/mnt': fromKoa(apps.mounted) }), { port: 0 }),
  ]);
  onTestFinished(() => Promise.all(handles.map((handle) => handle.close())).then(() => undefined));
  const [direct, converted, mounted] = handles;
  return {
    native: { url: (await listen(apps.native)).url, prefix: '', app: apps.native },
    direct: { url: direct!.url, prefix: '', app: apps.direct },
    converted: { url: converted!.url, prefix: '', app: apps.converted },
    mounted: { url: mounted!.url, prefix: '/mnt', app: apps.mounted },
  };
}

/** What a client sees of a response, less the fields a server sets for itself. */
interface Seen {
  status: number;
  reason: string;
  headers: [string, string][];
  body: string;
  errors: string[];
}

const SERVER_FIELDS = new Set(['date', 'connection', 'keep-alive']);

/** The same request each way; a fixed Host, so every server's URLs look alike. */
async function eachWay(make: () => Koa, path: string, init: Omit<RawRequest, 'headers'> & { headers?: [string, string][] } = {}): Promise<Record<Way, Seen>> {
  const served = await serveEach(make);
  const seen = {} as Record<Way, Seen>;
  for (const way of WAYS) {
    const { url, prefix, app } = served[way];
    const res = await fetchRaw(url, prefix + path, { ...init, headers: [['host', 'app.example:8080'], ...(init.headers ?? [])] });
    const headers = res.headers.filter(([name]) => !SERVER_FIELDS.has(name));
    seen[way] = { status: res.status, reason: res.statusText, headers, body: res.text(), errors: errorsOf(app).map((error) => error.message) };
  }
  return seen;
}

function expectAlike(seen: Record<Way, Seen>): Seen {
  for (const way of WAYS) expect({ way, ...seen[way] }).toEqual({ ...seen.native, way });
  return seen.native;
}

/** A Koa app answering with what Koa makes of the request. */
function requestView(options: ConstructorParameters<typeof Koa>[0] = {}): () => Koa {
  return () => {
    const app = quietKoa();
    Object.assign(app, options);
    return app.use((ctx) => {
      const { ip, ips, protocol, secure, host, hostname, origin, url, path, querystring } = ctx;
      ctx.body = { ip, ips, protocol, secure, host, hostname, origin, url, path, querystring, query: ctx.query };
    });
  };
}

const FORWARDED: [string, string][] = [
  ['x-forwarded-for', '203.0.113.1, 198.51.100.2'],
  ['x-forwarded-for', '192.0.2.3'],
  ['x-real-ip', '192.0.2.9'],
  ['x-forwarded-proto', 'HTTPS, http'],
  ['x-forwarded-host', 'public.example, inner.example'],
];

describe('fromKoa against the same Koa app on its own server', () => {
  it('ctx.ip, ips, protocol, secure, host and the path with %2F and unicode, with and without app.proxy', async () => {
    const path = '/a%2Fb/%C3%A9t%C3%A9?x=%2F&y=%C3%A9';
    const plain = expectAlike(await eachWay(requestView(), path, { headers: FORWARDED }));
    expect(JSON.parse(plain.body)).toMatchObject({ ip: '127.0.0.1', ips: [], protocol: 'http', host: 'app.example:8080', path: '/a%2Fb/%C3%A9t%C3%A9' });
    const proxied = expectAlike(await eachWay(requestView({ proxy: true, maxIpsCount: 2 }), path, { headers: FORWARDED }));
    // Koa 2 takes the forwarded protocol as sent; Koa 3 lower-cases it.
    const protocol = koaMajor >= 3 ? { protocol: 'https', secure: true } : { protocol: 'HTTPS', secure: false };
    expect(JSON.parse(proxied.body)).toMatchObject({ ip: '198.51.100.2', ips: ['198.51.100.2', '192.0.2.3'], ...protocol, host: 'public.example' });
    const header = expectAlike(await eachWay(requestView({ proxy: true, proxyIpHeader: 'X-Real-IP' }), path, { headers: FORWARDED }));
    expect(JSON.parse(header.body)).toMatchObject({ ip: '192.0.2.9', ips: ['192.0.2.9'] });
  });

  it('Koa\'s own 404 (GET and HEAD), a deliberate 404 with a body, ctx.throw, and a failure reported to app.on(\'error\')', async () => {
    const app = () =>
      quietKoa().use((ctx) => {
        if (ctx.path === '/gone') [ctx.status, ctx.body] = [404, 'gone for good'];
        else if (ctx.path === '/teapot') ctx.throw(418, 'short and stout', { headers: { 'x-why': 'tea' } });
        else if (ctx.path === '/fail') throw new Error('koa failed');
      });
    expect(expectAlike(await eachWay(app, '/nothing'))).toMatchObject({ status: 404, body: 'Not Found', errors: [] });
    expect(expectAlike(await eachWay(app, '/nothing', { method: 'HEAD' }))).toMatchObject({ status: 404, body: '' });
    expect(expectAlike(await eachWay(app, '/gone'))).toMatchObject({ status: 404, body: 'gone for good' });
    expect(expectAlike(await eachWay(app, '/teapot'))).toMatchObject({ status: 418, body: 'short and stout', errors: ['short and stout'] });
    expect(expectAlike(await eachWay(app, '/fail'))).toMatchObject({ status: 500, body: 'Internal Server Error', errors: ['koa failed'] });
  });

  it('HEAD, an empty status, redirects, ctx.attachment and ctx.state', async () => {
    const app = () =>
      quietKoa()
        .use(async (ctx, next) => {
          ctx.state.user = 'ann';
          await next();
        })
        .use((ctx) => {
          if (ctx.path === '/json') ctx.body = { user: ctx.state.user };
          else if (ctx.path === '/empty') [ctx.status, ctx.body] = [204, 'dropped'];
          else if (ctx.path === '/login') ctx.redirect('/welcome');
          // Koa 2's spelling of ctx.back.
          else if (ctx.path === '/back') koaMajor >= 3 ? ctx.back('/home') : (ctx.redirect as (url: string, alt: string) => void)('back', '/home');
          else if (ctx.path === '/file') [ctx.body] = [Buffer.from('%PDF'), ctx.attachment('report 1.pdf')];
        });
    expect(expectAlike(await eachWay(app, '/json'))).toMatchObject({ status: 200, body: '{"user":"ann"}' });
    expect(expectAlike(await eachWay(app, '/json', { method: 'HEAD' }))).toMatchObject({ status: 200, body: '' });
    expect(expectAlike(await eachWay(app, '/empty'))).toMatchObject({ status: 204, headers: [] });
    // Koa redirects relative to the server's root, mounted or not, as under koa-mount.
    expect(expectAlike(await eachWay(app, '/login')).headers).toContainEqual(['location', '/welcome']);
    const back = await eachWay(app, '/back', { headers: [['referer', 'http://app.example:8080/previous']] });
    expect(expectAlike(back).headers).toContainEqual(['location', 'http://app.example:8080/previous']);
    expect(expectAlike(await eachWay(app, '/back', { headers: [['referer', 'http://elsewhere.example/']] })).headers).toContainEqual(['location', '/home']);
    expect(expectAlike(await eachWay(app, '/file')).headers).toContainEqual(['content-disposition', 'attachment; filename="report 1.pdf"']);
  });

  it('ctx.respond = false with raw writes on ctx.res', async () => {
    const app = () =>
      quietKoa().use((ctx) => {
        ctx.respond = false;
        ctx.res.statusCode = 202;
        ctx.res.setHeader('x-raw', 'yes');
        ctx.res.write('raw ');
        ctx.res.end('writes');
      });
    expect(expectAlike(await eachWay(app, '/'))).toMatchObject({ status: 202, body: 'raw writes' });
  });

  it('signed and secure cookies: set behind a proxy Koa trusts, refused over plain HTTP as Koa refuses them', async () => {
    const app = (proxy: boolean) => () => {
      const koa = quietKoa();
      [koa.keys, koa.proxy] = [['secret'], proxy];
      return koa.use((ctx) => {
        ctx.cookies.set('session', 'abc', { secure: true, signed: true });
        ctx.body = ctx.cookies.get('seen', { signed: true }) ?? 'unsigned';
      });
    };
    const proxied = expectAlike(await eachWay(app(true), '/', { headers: [['x-forwarded-proto', 'https'], ['cookie', 'seen=1; seen.sig=forged']] }));
    // The cookie and its signature, and the forged signature cleared.
    expect(proxied.headers.filter(([name]) => name === 'set-cookie').map(([, value]) => value.split(';')[0])).toEqual(['session=abc', expect.stringMatching(/^session\.sig=./), 'seen.sig=']);
    expect(proxied.body).toBe('unsigned');
    const plain = expectAlike(await eachWay(app(false), '/', { headers: [['x-forwarded-proto', 'https']] }));
    expect(plain).toMatchObject({ status: 500, errors: ['Cannot send secure cookie over unencrypted connection'] });
  });

  it('over TLS, ctx.secure is true and a secure cookie is set, direct and converted', async () => {
    const tls = { key: readFileSync(new URL('../../../test/fixtures/localhost-key.pem', import.meta.url)), cert: readFileSync(new URL('../../../test/fixtures/localhost-cert.pem', import.meta.url)) };
    const make = () =>
      quietKoa().use((ctx) => {
        ctx.cookies.set('session', 'abc', { secure: true });
        ctx.body = `${ctx.protocol} ${String(ctx.secure)}`;
      });
    const listeners = [make().callback(), toNodeListener(fromKoa(make())), toNodeListener(between(fromKoa(make())))];
    const seen: [string, string[]][] = [];
    for (const listener of listeners) {
      const server = createHttpsServer(tls, listener);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
          httpsGet({ host: '127.0.0.1', port, path: '/', rejectUnauthorized: false, agent: false }, resolve).once('error', reject);
        });
        const body: Buffer[] = [];
        for await (const chunk of res) body.push(chunk as Buffer);
        seen.push([Buffer.concat(body).toString(), res.headers['set-cookie'] ?? []]);
      } finally {
        server.close();
        server.closeAllConnections();
      }
    }
    expect(seen).toEqual(Array(3).fill(['https true', ['session=abc; path=/; secure; httponly']]));
  });

  it('a streamed body the client leaves: Koa destroys it and, from Koa 3, reports the premature close, as natively', async () => {
    const logs = new WeakMap<Koa, { log: string[]; closed: Promise<void> }>();
    const make = () => {
      const app = quietKoa();
      const log: string[] = [];
      app.on('error', (error: { code?: string }) => void log.push(`app error ${error.code}`));
      let closed!: () => void;
      logs.set(app, { log, closed: new Promise((resolve) => (closed = resolve)) });
      return app.use((ctx) => {
        let n = 0;
        const body = new Readable({ read() { setImmediate(() => this.push(`chunk ${n++};`)); } });
        body.once('close', () => void (log.push('body closed'), closed()));
        ctx.type = 'text/plain';
        ctx.body = body;
      });
    };
    // Koa 2 pipes the body with .pipe(), which reports nothing when the client leaves.
    const expected = koaMajor >= 3 ? ['body closed', 'app error ERR_STREAM_PREMATURE_CLOSE'] : ['body closed'];
    const served = await serveEach(make);
    for (const way of WAYS) {
      const { url, prefix, app } = served[way];
      const left = new AbortController();
      const res = await open(url, prefix + '/', { signal: left.signal });
      res.on('error', () => {});
      await new Promise((resolve) => res.once('data', resolve));
      const reported = koaMajor >= 3 ? new Promise((resolve) => app.once('error', resolve)) : logs.get(app)!.closed;
      left.abort();
      await reported;
      expect({ way, log: logs.get(app)!.log }).toEqual({ way, log: expected });
    }
  });
});

describe('fromKoa under a mount: what Koa knows of the prefix', () => {
  it('ctx.originalUrl, ctx.href and ctx.URL are relative to the mount point, unlike koa-mount; the raw prefix is req[baseUrlSymbol]', async () => {
    const app = quietKoa().use((ctx) => {
      const base = (ctx.req as { [baseUrlSymbol]?: string })[baseUrlSymbol] ?? '';
      ctx.body = { originalUrl: ctx.originalUrl, href: ctx.href, URL: ctx.URL.pathname, full: `${ctx.protocol}://${ctx.host}${base}${ctx.originalUrl}` };
    });
    const server = await serve(mount({ '/märz': fromKoa(app) }), { port: 0 });
    try {
      const res = await fetchRaw(server.url, '/m%C3%A4rz/a%2Fb?q=1', { headers: { host: 'app.example' } });
      expect(res.json()).toEqual({
        originalUrl: '/a%2Fb?q=1',
        href: 'http://app.example/a%2Fb?q=1',
        URL: '/a%2Fb',
        full: 'http://app.example/m%C3%A4rz/a%2Fb?q=1',
      });
    } finally {
      await server.close();
    }
  });
});
