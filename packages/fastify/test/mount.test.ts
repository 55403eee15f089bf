import { connect } from 'node:net';
import type { Application, Environ } from '@ngi/core';
import { fromNodeListener } from '@ngi/node';
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { fastifyNgi } from '../src/index.ts';
import { listen, send, server } from './_helpers.ts';

/** Answers with what the application saw of the request. */
const echo: Application = (environ, startResponse) => {
  const body = JSON.stringify(seenBy(environ));
  startResponse('200 OK', [['content-type', 'application/json'], ['content-length', String(Buffer.byteLength(body))]]);
  return [body];
};

function seenBy(environ: Environ) {
  return {
    method: environ.REQUEST_METHOD,
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    rawPath: environ['ngi.raw_path'],
    query: environ.QUERY_STRING,
    serverName: environ.SERVER_NAME,
    serverPort: environ.SERVER_PORT,
    remoteAddr: environ.REMOTE_ADDR,
    scheme: environ['ngi.url_scheme'],
    protocol: environ.SERVER_PROTOCOL,
    fastify: typeof (environ['fastify.request'] as { id?: unknown } | undefined)?.id,
  };
}

describe('fastifyNgi: where the application is mounted', () => {
  it('answers every method at the prefix itself and below it, never beside it (§3.1, §14.2)', async () => {
    const fastify = server();
    await fastify.register(fastifyNgi, { app: echo, prefix: '/legacy' });
    const url = await listen(fastify);
    for (const path of ['/legacy', '/legacy/', '/legacy/a/b']) {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE']) {
        const res = await send(url, path, { method });
        expect([path, res.status, res.json().method]).toEqual([path, 200, method]);
      }
      const head = await send(url, path, { method: 'HEAD' });
      expect([head.status, head.body.length, Number(head.header('content-length')) > 0]).toEqual([200, 0, true]);
    }
    const beside = await send(url, '/legacyx');
    expect([beside.status, beside.json().message]).toEqual([404, 'Route GET:/legacyx not found']);
  });

  it('splits SCRIPT_NAME and PATH_INFO after the prefix, with parent prefixes and parameters (§3.2, §3.3, §4.7)', async () => {
    const fastify = server();
    await fastify.register(
      async (api) => {
        await api.register(fastifyNgi, { app: echo, prefix: '/v1' });
        await api.register(fastifyNgi, { app: echo, prefix: '/tenant/:id' });
      },
      { prefix: '/api' },
    );
    const url = await listen(fastify);
    const seen = async (path: string) => {
      const body = (await send(url, path)).json();
      return [body.scriptName, body.pathInfo, body.rawPath, body.query];
    };
    expect(await seen('/api/v1')).toEqual(['/api/v1', '', '/api/v1', '']);
    expect(await seen('/api/v1/')).toEqual(['/api/v1', '/', '/api/v1/', '']);
    expect(await seen('/api/v1/users/a%20b/x%2Fy?q=%E2%9C%93')).toEqual(['/api/v1', '/users/a b/x/y', '/api/v1/users/a%20b/x%2Fy', 'q=%E2%9C%93']);
    expect(await seen('/api/tenant/acme/orders')).toEqual(['/api/tenant/acme', '/orders', '/api/tenant/acme/orders', '']);
  });

  it('takes a parameter inside a prefix segment and an escaped colon as Fastify\'s router does (§3.2)', async () => {
    const fastify = server();
    await fastify.register(fastifyNgi, { app: echo, prefix: '/api/v:version' });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/a::b' });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/t/:from-:to' });
    const url = await listen(fastify);
    const seen = async (path: string) => {
      const res = await send(url, path);
      return [res.status, res.json().scriptName, res.json().pathInfo];
    };
    expect(await seen('/api/v2/users')).toEqual([200, '/api/v2', '/users']);
    expect(await seen('/a:b/c')).toEqual([200, '/a:b', '/c']);
    expect(await seen('/t/1-2/x')).toEqual([200, '/t/1-2', '/x']);
  });

  it('matches the decoded path as Fastify\'s router does: /%6Cegacy is /legacy (CVE-2026-22031, middie PR #245)', async () => {
    const fastify = server();
    await fastify.register(fastifyNgi, { app: echo, prefix: '/legacy' });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/tenant/:id' });
    const url = await listen(fastify);
    const encoded = (await send(url, '/%6Cegacy/%61dmin')).json();
    expect([encoded.scriptName, encoded.pathInfo, encoded.rawPath]).toEqual(['/legacy', '/admin', '/%6Cegacy/%61dmin']);
    // An encoded slash stays inside the parameter's segment, as Fastify's router keeps it.
    const tenant = (await send(url, '/tenant/a%2Fb/orders')).json();
    expect([tenant.scriptName, tenant.pathInfo]).toEqual(['/tenant/a/b', '/orders']);
  });

  it('redirects a path not in normal form to it, so Fastify routes and hooks the path the app would see (§14.2)', async () => {
    const fastify = server();
    fastify.get('/admin', { onRequest: async (_request, reply) => void (await reply.code(403).send('forbidden')) }, async () => 'admin');
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    const cases: [string, string][] = [
      ['/x/../admin', '/admin'],
      ['//admin?q=1', '/admin?q=1'],
      ['/%2Fadmin', '/admin'],
      ['/a/./b//c/', '/a/b/c/'],
      ['/caf%C3%A9/../%C3%A9t%C3%A9', '/%C3%A9t%C3%A9'],
    ];
    for (const [path, location] of cases) {
      const res = await send(url, path, { method: 'POST', body: 'kept for the second request' });
      expect([path, res.status, res.header('location')]).toEqual([path, 308, location]);
    }
    expect((await send(url, '/admin')).status).toBe(403);
  });

  it('redirects a path whose %2F makes it another Fastify route\'s path to that path, so its hooks run (§3.3, §14.2; CVE-2026-22031)', async () => {
    const fastify = server();
    const forbidden = { onRequest: async (_request: unknown, reply: FastifyReply) => void (await reply.code(403).send('forbidden')) };
    fastify.get('/api/admin', forbidden, async () => 'admin');
    fastify.get('/legacy/admin/x', forbidden, async () => 'admin');
    fastify.get('/tenant/special/*', forbidden, async () => 'special');
    fastify.get('/host/admin', { ...forbidden, constraints: { host: 'admin.example.com' } }, async () => 'admin');
    await fastify.register(fastifyNgi, { app: echo });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/legacy' });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/tenant/:id' });
    const url = await listen(fastify);
    const cases: [string, string][] = [
      ['/api%2Fadmin?q=1', '/api/admin?q=1'],
      ['/api%2fadmin', '/api/admin'],
      ['/legacy/admin%2Fx', '/legacy/admin/x'],
      ['/tenant/special%2Fx', '/tenant/special/x'],
    ];
    for (const [path, location] of cases) {
      const res = await send(url, path);
      expect([path, res.status, res.header('location')]).toEqual([path, 308, location]);
      expect((await send(url, location)).status).toBe(403);
    }
    // A route for one host is another route for that host only.
    const admin = { headers: { host: 'admin.example.com' } };
    expect([(await send(url, '/host%2Fadmin', admin)).status, (await send(url, '/host/admin', admin)).status]).toEqual([308, 403]);
    expect((await send(url, '/host%2Fadmin')).json().pathInfo).toBe('/host/admin');
  });

  it('redirects a path whose other kept escapes (%40, %24…) make it another Fastify route\'s path to that path, so its hooks run (§3.3; CVE-2026-22031)', async () => {
    const fastify = server();
    const forbidden = { onRequest: async (_request: unknown, reply: FastifyReply) => void (await reply.code(403).send('forbidden')) };
    fastify.get('/users/@me', forbidden, async () => 'me');
    fastify.get('/odata/$metadata', forbidden, async () => 'metadata');
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    for (const [path, location] of [['/users/%40me', '/users/@me'], ['/odata/%24metadata', '/odata/$metadata'], ['/users/%40m%65', '/users/@me']]) {
      const res = await send(url, path!);
      expect([path, res.status, res.header('location')]).toEqual([path, 308, location]);
      expect((await send(url, location!)).status).toBe(403);
    }
    // No other route has the decoded path: the application gets it.
    expect((await send(url, '/files/%40home')).json().pathInfo).toBe('/files/@home');
  });

  it('answers a method Fastify was taught before the plugin was registered (WebDAV\'s PROPFIND), as the README says', async () => {
    const fastify = server();
    fastify.addHttpMethod('PROPFIND', { hasBody: true });
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    const res = await send(url, '/dav/file', { method: 'PROPFIND' });
    expect([res.status, res.json().method]).toEqual([200, 'PROPFIND']);
  });

  it('keeps a %2F the application gets to see when no other Fastify route has the decoded path (§3.3)', async () => {
    const fastify = server();
    fastify.get('/api/admin', async () => 'admin');
    // A Node listener sees the path as the client sent it, %2F and all.
    const listener = fromNodeListener((req, res) => void res.end(req.url));
    await fastify.register(fastifyNgi, { app: listener });
    await fastify.register(fastifyNgi, { app: echo, prefix: '/tenant/:id' });
    const url = await listen(fastify);
    for (const path of ['/files/a%2Fb', '/api%2Fadmin%2Fx', '/%61pi/admin%2Fx']) {
      const res = await send(url, path);
      expect([path, res.status, res.text()]).toEqual([path, 200, path]);
    }
    const tenant = (await send(url, '/tenant/a%2Fb/orders')).json();
    expect([tenant.scriptName, tenant.pathInfo]).toEqual(['/tenant/a/b', '/orders']);
  });

  it('at the root, leaves Fastify\'s own routes alone and takes every other path (§14.2)', async () => {
    const fastify = server();
    fastify.get('/health', async () => ({ ok: true }));
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    expect((await send(url, '/health')).json()).toEqual({ ok: true });
    const body = (await send(url, '/anything/else?x')).json();
    expect([body.scriptName, body.pathInfo, body.query]).toEqual(['', '/anything/else', 'x']);
    expect((await send(url, '/')).json().pathInfo).toBe('/');
  });

  it('describes the connection: REMOTE_ADDR, SERVER_NAME/PORT, scheme, protocol, and fastify.request (§3.7–§3.9, §15.1)', async () => {
    const fastify = server();
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    const body = (await send(url, '/', { headers: { host: 'example.com:8080' } })).json();
    expect(body).toMatchObject({ serverName: 'example.com', serverPort: '8080', remoteAddr: '127.0.0.1', scheme: 'http', protocol: 'HTTP/1.1', fastify: 'string' });
    // HTTP/1.0 without Host: the address the connection came in on.
    const port = new URL(url).port;
    const socket = connect(Number(port), '127.0.0.1');
    socket.end('GET /old HTTP/1.0\r\n\r\n');
    let raw = '';
    for await (const chunk of socket) raw += String(chunk);
    const old = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(old).toMatchObject({ serverName: '127.0.0.1', serverPort: port, protocol: 'HTTP/1.0', pathInfo: '/old' });
  });

  it('§5 the headers are Fastify\'s request.headers as hooks left them, those they set with `request.headers = {…}` too', async () => {
    const headersOf: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/json']]);
      return [JSON.stringify({ user: environ.HTTP_X_USER ?? null, auth: environ.HTTP_AUTHORIZATION ?? null, tag: environ.HTTP_X_TAG ?? null })];
    };
    const fastify = server();
    // As an authentication hook does: the credential checked and dropped, the user named.
    fastify.addHook('onRequest', async (request) => {
      delete request.headers.authorization;
      request.headers = { 'x-user': 'ada' };
    });
    await fastify.register(fastifyNgi, { app: headersOf });
    const url = await listen(fastify);
    const res = await send(url, '/', { headers: { authorization: 'Bearer secret', 'x-tag': 'a' } });
    expect(res.json()).toEqual({ user: 'ada', auth: null, tag: 'a' });
  });

  it('refuses to register without an application', async () => {
    const fastify = server();
    await expect(fastify.register(fastifyNgi, { app: undefined as unknown as Application }).ready()).rejects.toThrow(/options\.app must be an NGI application/);
  });

  it('refuses an application registered twice at one prefix through ready(), rather than end the process, and a call as a factory', async () => {
    const app: Application = (_environ, startResponse) => (startResponse('204 No Content', []), []);
    const twice = server();
    void twice.register(fastifyNgi, { prefix: '/legacy', app });
    void twice.register(fastifyNgi, { prefix: '/legacy', app });
    await expect(twice.ready()).rejects.toThrow('@ngi/fastify: cannot mount the application at "/legacy": its routes are taken (is it registered there twice?)');
    expect(() => (fastifyNgi as unknown as (options: object) => unknown)({ app })).toThrow('@ngi/fastify: fastifyNgi is a Fastify plugin, not a factory: fastify.register(fastifyNgi, { app })');
  });

  it.each([
    [{ drainLimit: Number.NaN }, /options\.drainLimit must be a number of bytes, 0 or more, got NaN/],
    [{ drainLimit: -1 }, /options\.drainLimit must be a number of bytes, 0 or more, got -1/],
    [{ parsedBody: 'bogus' }, /options\.parsedBody must be "serialize" or "error", got "bogus"/],
    // console has no write(): every report would be lost without a word.
    [{ errors: console }, /options\.errors must be an error stream \{ write\(message\), flush\(\) \} \(§4\.4\)/],
    // Ignored, a misspelt option would leave its default in place without a word.
    [{ fallThrough: false }, /@ngi\/fastify: unknown option "fallThrough" \(did you mean "fallthrough"\?\)/],
    [{ direct: 'true' }, /@ngi\/fastify: options\.direct must be a boolean, got "true"/],
  ])('refuses to register with a bad option %j', async (options, message) => {
    const app: Application = (_environ, startResponse) => (startResponse('204 No Content', []), []);
    const fastify = server();
    await expect(fastify.register(fastifyNgi, { app, ...(options as object) }).ready()).rejects.toThrow(message);
  });
});
