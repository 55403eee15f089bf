import { mount, type Application, type Environ } from '@ngi/core';
import { fromNodeListener, serve } from '@ngi/node';
import type { FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifyNgi, fromFastify } from '../src/index.ts';
import { listen, send, server } from './_helpers.ts';

// Fastify's router, told to `useSemicolonDelimiter`, ends the path at the first `;` and parses
// the rest as the query string (find-my-way#76, fastify#5050): `/legacy;x=1` is its route `/legacy`
// with `request.query` `{ x: '1' }`, and `request.url` keeps the `;`.

/** Answers with what the application saw, and what Fastify parsed as the query. */
const echo: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [JSON.stringify(seenBy(environ))];
};

function seenBy(environ: Environ) {
  const request = environ['fastify.request'] as { query: unknown } | undefined;
  return { scriptName: environ.SCRIPT_NAME, pathInfo: environ.PATH_INFO, query: environ.QUERY_STRING, rawPath: environ['ngi.raw_path'], fastifyQuery: request?.query };
}

// Fastify's type of routerOptions leaves the option out, though its docs give it there.
const SEMICOLON = { routerOptions: { useSemicolonDelimiter: true } } as FastifyServerOptions;

/** A Fastify server with the application at `/legacy`, at `/api/v1` (a prefix under a parent's), and at the root. */
async function mounted(options: FastifyServerOptions): Promise<string> {
  const fastify = server(options);
  fastify.get('/route', async (request) => ({ url: request.url, query: request.query }));
  await fastify.register(fastifyNgi, { app: echo, prefix: '/legacy' });
  await fastify.register(async (api) => void (await api.register(fastifyNgi, { app: echo, prefix: '/v1' })), { prefix: '/api' });
  await fastify.register(fastifyNgi, { app: echo });
  return listen(fastify);
}

describe('fastifyNgi with useSemicolonDelimiter', () => {
  it.each([
    // target, SCRIPT_NAME, PATH_INFO, QUERY_STRING, ngi.raw_path, Fastify's request.query
    ['/legacy;x=1', '/legacy', '', 'x=1', '/legacy', { x: '1' }],
    ['/legacy/;x', '/legacy', '/', 'x', '/legacy/', { x: '' }],
    ['/legacy/a;b/c;d=1', '/legacy', '/a', 'b/c;d=1', '/legacy/a', { 'b/c;d': '1' }],
    // A `?` after the `;` is part of the query Fastify parses; a `;` after the `?` is query as always.
    ['/legacy;x=1?y=2', '/legacy', '', 'x=1?y=2', '/legacy', { x: '1?y=2' }],
    ['/legacy?y=1;z=2', '/legacy', '', 'y=1;z=2', '/legacy', { y: '1;z=2' }],
    // An escaped `;` is part of the path, for Fastify's router as for the application.
    ['/legacy/a%3Bb;c', '/legacy', '/a;b', 'c', '/legacy/a%3Bb', { c: '' }],
    ['/api/v1;x=1', '/api/v1', '', 'x=1', '/api/v1', { x: '1' }],
    ['/api/v1/users;x=1', '/api/v1', '/users', 'x=1', '/api/v1/users', { x: '1' }],
    ['/other;x=1', '', '/other', 'x=1', '/other', { x: '1' }],
    ['/;x=1', '', '/', 'x=1', '/', { x: '1' }],
    ['http://example.com/legacy;x=1', '/legacy', '', 'x=1', '/legacy', { x: '1' }],
  ])('%s reaches the application as Fastify routes and parses it (§3.2–§3.5, §4.7)', async (target, scriptName, pathInfo, query, rawPath, fastifyQuery) => {
    const url = await mounted(SEMICOLON);
    const res = await send(url, target);
    expect([res.status, res.json()]).toEqual([200, { scriptName, pathInfo, query, rawPath, fastifyQuery }]);
  });

  it('gives the application as QUERY_STRING the very text Fastify takes as the query for its own route (§3.5)', async () => {
    // A parser that returns the text it is given shows what Fastify's router took as the query.
    const url = await mounted({ routerOptions: { useSemicolonDelimiter: true, querystringParser: (text: string) => ({ text }) } } as FastifyServerOptions);
    for (const suffix of ['', ';', ';x=1', ';x=1?y=2', ';a;b=1&c=2', '?y=1;z=2', '?y;z?w']) {
      const own = (await send(url, `/route${suffix}`)).json();
      expect(own.url).toBe(`/route${suffix}`);
      for (const path of ['/legacy', '/api/v1', '/other']) {
        const app = (await send(url, `${path}${suffix}`)).json();
        expect([path + suffix, app.query, app.fastifyQuery]).toEqual([path + suffix, own.query.text, own.query]);
      }
    }
  });

  it.each([
    ['Fastify 4\'s top-level option', { useSemicolonDelimiter: true }],
    ['the top-level option next to other router options', { useSemicolonDelimiter: true, routerOptions: { ignoreTrailingSlash: true } }],
  ])('reads the option where Fastify does: %s (FSTDEP022)', async (_name, options) => {
    const url = await mounted(options);
    expect((await send(url, '/route;x=1')).json().query).toEqual({ x: '1' });
    expect((await send(url, '/legacy;x=1')).json()).toMatchObject({ scriptName: '/legacy', pathInfo: '', query: 'x=1' });
  });

  it('redirects a path not in normal form with its escaped `;` still escaped, and its query after `;` kept (§14.2)', async () => {
    const url = await mounted(SEMICOLON);
    const res = await send(url, '/x/../a%3Bb;c=1');
    expect([res.status, res.header('location')]).toEqual([308, '/a%3Bb?c=1']);
    expect((await send(url, res.header('location')!)).json()).toMatchObject({ pathInfo: '/a;b', query: 'c=1' });
  });

  it('takes an escaped `;` after a %2F as part of the path when it looks for another route (§3.3; CVE-2026-22031)', async () => {
    const fastify = server(SEMICOLON);
    fastify.get('/api/admin', async () => 'admin');
    await fastify.register(fastifyNgi, { app: echo });
    const url = await listen(fastify);
    // The application gets `/api/admin;x`, which no route of Fastify's has; `/api/admin` would be another path.
    const res = await send(url, '/api%2Fadmin%3Bx');
    expect([res.status, res.json().pathInfo]).toEqual([200, '/api/admin;x']);
    const other = await send(url, '/api%2Fadmin;x=1');
    expect([other.status, other.header('location')]).toEqual([308, '/api/admin?x=1']);
  });

  it.each([false, true])('gives a Node listener (direct: %j) the URL with the query where Fastify takes it', async (direct) => {
    const listener = fromNodeListener((req, res) => void res.end(req.url));
    const fastify = server(SEMICOLON);
    await fastify.register(fastifyNgi, { app: listener, prefix: '/legacy', direct });
    await fastify.register(fastifyNgi, { app: listener, direct });
    const url = await listen(fastify);
    expect((await send(url, '/legacy;x=1')).text()).toBe('/?x=1');
    expect((await send(url, '/legacy/a;x=1')).text()).toBe('/a?x=1');
    expect((await send(url, '/other;x=1')).text()).toBe('/other?x=1');
    expect((await send(url, '/other?x=1;y')).text()).toBe('/other?x=1;y');
  });
});

describe('fastifyNgi without useSemicolonDelimiter (Fastify\'s default)', () => {
  it('keeps a `;` in the path, as Fastify\'s router does: /legacy;x=1 is not under /legacy', async () => {
    const url = await mounted({});
    const beside = await send(url, '/legacy;x=1');
    expect([beside.status, beside.json()]).toMatchObject([200, { scriptName: '', pathInfo: '/legacy;x=1', query: '', fastifyQuery: {} }]);
    expect((await send(url, '/route;x=1')).json().pathInfo).toBe('/route;x=1');
    expect((await send(url, '/legacy/a;b?c')).json()).toMatchObject({ scriptName: '/legacy', pathInfo: '/a;b', query: 'c' });
  });
});

describe('fastifyNgi with useSemicolonDelimiter in a Fastify app run by fromFastify', () => {
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => void (await Promise.all(closing.splice(0).map((close) => close()))));

  it('is mounted where Fastify routes it, though ngi.raw_path stays the NGI server\'s, `;` and all (§4.7)', async () => {
    const inner = server(SEMICOLON);
    await inner.register(fastifyNgi, { app: echo, prefix: '/legacy' });
    const handle = await serve(mount({ '/api': fromFastify(inner) }), { port: 0 });
    closing.push(() => handle.close());
    const res = await send(handle.url, '/api/legacy/a;b?c');
    expect(res.json()).toEqual({ scriptName: '/api/legacy', pathInfo: '/a', query: 'b?c', rawPath: '/api/legacy/a;b', fastifyQuery: { 'b?c': '' } });
  });

  it('in another Fastify app with the option, sees the target that app read (§4.7)', async () => {
    const inner = server(SEMICOLON);
    inner.get('/route', async (request) => ({ url: request.url, query: request.query }));
    await inner.register(fastifyNgi, { app: echo, prefix: '/legacy' });
    const outer = server(SEMICOLON);
    await outer.register(fastifyNgi, { prefix: '/outer', app: fromFastify(inner) });
    const url = await listen(outer);
    expect((await send(url, '/outer/route;x=1')).json()).toEqual({ url: '/route?x=1', query: { x: '1' } });
    const res = await send(url, '/outer/legacy/a;b?c');
    expect(res.json()).toEqual({ scriptName: '/outer/legacy', pathInfo: '/a', query: 'b?c', rawPath: '/outer/legacy/a', fastifyQuery: { 'b?c': '' } });
  });
});
