import { mount as mountApps, validator } from '@ngi/core';
import { fromNodeListener } from '@ngi/node';
import type { Middleware } from 'koa';
import mount from 'koa-mount';
import { afterEach, describe, expect, it } from 'vitest';
import { toKoa } from '../src/index.ts';
import { Router, Router13, Router7 } from './_router.ts';
import { guardBypassCases } from '../../../test/fixtures/non-normal-paths.ts';
import { closeAll, echo, fetchRaw, follow, listen, quietKoa, type Listenable, type Seen } from './_helpers.ts';

afterEach(closeAll);

// The validator checks the server side of every environ toKoa builds (§2–§5).
const checked = toKoa(validator(echo));

async function seen(app: Listenable, path: string): Promise<Seen> {
  const server = await listen(app);
  const res = await fetchRaw(server.url, path);
  expect(res.status).toBe(200);
  return res.json() as Seen;
}

describe('toKoa: SCRIPT_NAME and PATH_INFO (§3.2–§3.4)', () => {
  it('§3.3 §4.7 at the root: PATH_INFO is the decoded path, ngi.raw_path and QUERY_STRING stay raw', async () => {
    const view = await seen(quietKoa().use(checked), '/a%20b/x%3Fy?q=%E2%9C%93&r');
    expect(view).toMatchObject({ scriptName: '', pathInfo: '/a b/x?y', rawPath: '/a%20b/x%3Fy', query: 'q=%E2%9C%93&r', hasKoaCtx: true });
  });

  it('§14.2 under koa-mount the removed prefix is SCRIPT_NAME', async () => {
    const app = quietKoa().use(mount('/legacy', checked));
    expect(await seen(app, '/legacy/x%3Fy?z=1')).toMatchObject({ scriptName: '/legacy', pathInfo: '/x?y', rawPath: '/legacy/x%3Fy', query: 'z=1' });
    expect(await seen(app, '/legacy')).toMatchObject({ scriptName: '/legacy', pathInfo: '' });
    expect(await seen(app, '/legacy/')).toMatchObject({ scriptName: '/legacy', pathInfo: '/' });
    // With a fragment Koa parses the target with url.parse, which escapes `{` as `%7B` in ctx.path.
    expect(await seen(app, '/legacy/{a}#top')).toMatchObject({ scriptName: '/legacy', pathInfo: '/{a}', rawPath: '/legacy/{a}' });
  });

  it('§14.2 nested koa-mounts add up, and a percent-encoded prefix is decoded', async () => {
    const app = quietKoa().use(mount('/outer', mount('/in%20ner', checked)));
    expect(await seen(app, '/outer/in%20ner/deep/path')).toMatchObject({ scriptName: '/outer/in ner', pathInfo: '/deep/path' });
  });

  it('§3.2 koa-mount with a trailing-slash prefix still gives SCRIPT_NAME without a trailing "/"', async () => {
    const app = quietKoa().use(mount('/docs/', checked));
    expect(await seen(app, '/docs/page')).toMatchObject({ scriptName: '/docs', pathInfo: '/page' });
  });

  it('§14.2 an @koa/router route ending in a wildcard: what precedes the wildcard is SCRIPT_NAME', async () => {
    const router = new Router().all('/api{/*path}', checked);
    const app = quietKoa().use(router.routes());
    expect(await seen(app, '/api/v1/x%3Fy?q')).toMatchObject({ scriptName: '/api', pathInfo: '/v1/x?y', rawPath: '/api/v1/x%3Fy', query: 'q' });
    expect(await seen(app, '/api')).toMatchObject({ scriptName: '/api', pathInfo: '' });
    expect(await seen(app, '/api/')).toMatchObject({ scriptName: '/api', pathInfo: '/' });
  });

  it('§14.2 an @koa/router 13 route (path-to-regexp 6) ending in a wildcard: :rest*, :rest+, :rest(.*) or (.*)', async () => {
    const router = new Router13()
      .all('/star/:rest*', checked)
      .all('/plus/:rest+', checked)
      .all('/named/:rest(.*)', checked)
      .all('/v/:version(\\d+)/(\\w+)/(.*)', checked)
      .all('/:lang((?:en|fr))/(.*)', checked)
      // The wildcard's value starts with "/" here: `/api` and everything under it.
      .all('/api(.*)', checked);
    const app = quietKoa().use(router.routes());
    expect(await seen(app, '/star/a%20b/c?q')).toMatchObject({ scriptName: '/star', pathInfo: '/a b/c', rawPath: '/star/a%20b/c', query: 'q' });
    expect(await seen(app, '/star')).toMatchObject({ scriptName: '/star', pathInfo: '' });
    expect(await seen(app, '/star/')).toMatchObject({ scriptName: '/star', pathInfo: '/' });
    // path-to-regexp 6 leaves a trailing "/" out of the wildcard's value.
    expect(await seen(app, '/star/a/')).toMatchObject({ scriptName: '/star', pathInfo: '/a/' });
    expect(await seen(app, '/plus/x/y')).toMatchObject({ scriptName: '/plus', pathInfo: '/x/y' });
    expect(await seen(app, '/plus/x/')).toMatchObject({ scriptName: '/plus', pathInfo: '/x/' });
    expect(await seen(app, '/named/x/y')).toMatchObject({ scriptName: '/named', pathInfo: '/x/y' });
    expect(await seen(app, '/named/')).toMatchObject({ scriptName: '/named', pathInfo: '/' });
    // The wildcard is the second unnamed group: its value is params[1].
    expect(await seen(app, '/v/2/api/x/y')).toMatchObject({ scriptName: '/v/2/api', pathInfo: '/x/y' });
    // A non-capturing group inside a parameter's own pattern is no unnamed group.
    expect(await seen(app, '/en/x/y')).toMatchObject({ scriptName: '/en', pathInfo: '/x/y' });
    expect(await seen(app, '/api/x')).toMatchObject({ scriptName: '/api', pathInfo: '/x' });
    expect(await seen(app, '/api')).toMatchObject({ scriptName: '/api', pathInfo: '' });
  });

  it('§14.2 a koa-router 7 route (path-to-regexp 1) ending in a wildcard: :rest*, (.*) or *, with a router prefix', async () => {
    const router = new Router7()
      .all('/star/:rest*', checked)
      .all('/group/(.*)', checked)
      .all('/bare/*', checked);
    const prefixed = new Router7({ prefix: '/p/:id' }).all('/files/:rest*', checked);
    // A later route matching the same path: koa-router 7 reports it as the one matched.
    prefixed.get('/files/later', async (_ctx, next) => next());
    // One handler on two methods' routes: two matched layers, one path.
    const methods = new Router7().get('/m/*', checked).post('/m/*', checked);
    // router.use() middleware is no route: it mounts nothing.
    const used = new Router7();
    used.get('/u/x', async (_ctx, next) => next());
    used.use(checked);
    const app = quietKoa().use(router.routes()).use(prefixed.routes()).use(methods.routes()).use(used.routes());
    expect(await seen(app, '/star/a%20b/c?q')).toMatchObject({ scriptName: '/star', pathInfo: '/a b/c', query: 'q' });
    expect(await seen(app, '/star')).toMatchObject({ scriptName: '/star', pathInfo: '' });
    expect(await seen(app, '/group/x/y')).toMatchObject({ scriptName: '/group', pathInfo: '/x/y' });
    expect(await seen(app, '/bare/x/y')).toMatchObject({ scriptName: '/bare', pathInfo: '/x/y' });
    expect(await seen(app, '/bare/')).toMatchObject({ scriptName: '/bare', pathInfo: '/' });
    expect(await seen(app, '/p/7/files/a')).toMatchObject({ scriptName: '/p/7/files', pathInfo: '/a' });
    expect(await seen(app, '/p/7/files/later')).toMatchObject({ scriptName: '/p/7/files', pathInfo: '/later' });
    expect(await seen(app, '/m/x/y')).toMatchObject({ scriptName: '/m', pathInfo: '/x/y' });
    expect(await seen(app, '/star/a/')).toMatchObject({ scriptName: '/star', pathInfo: '/a/' });
    expect(await seen(app, '/u/x')).toMatchObject({ scriptName: '', pathInfo: '/u/x' });
  });

  it('§14.2 a router prefix with parameters, inside koa-mount, nested routers', async () => {
    const files = new Router({ prefix: '/users/:id' }).all('/files{/*rest}', checked);
    const outer = new Router().use('/v2', new Router().all('/n{/*rest}', checked).routes());
    const app = quietKoa().use(mount('/m', files.routes())).use(outer.routes());
    expect(await seen(app, '/m/users/4%202/files/a/b')).toMatchObject({ scriptName: '/m/users/4 2/files', pathInfo: '/a/b' });
    expect(await seen(app, '/v2/n/q%20r')).toMatchObject({ scriptName: '/v2/n', pathInfo: '/q r' });
  });

  it('a route without a trailing wildcard, or a route that only passed the request on, mounts nothing', async () => {
    const router = new Router()
      .get('/exact/path', checked)
      .all('/auth{/*rest}', async (_ctx, next) => next());
    const app = quietKoa().use(router.routes()).use(checked);
    expect(await seen(app, '/exact/path')).toMatchObject({ scriptName: '', pathInfo: '/exact/path' });
    // ctx.routerPath is still '/auth{/*rest}' when the app-level toKoa runs.
    expect(await seen(app, '/auth/x')).toMatchObject({ scriptName: '', pathInfo: '/auth/x' });
  });

  it('a path rewritten by earlier middleware is what the callable sees', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        ctx.path = '/rewritten' + ctx.path;
        await next();
      })
      .use(checked);
    expect(await seen(app, '/x?y=1')).toMatchObject({ scriptName: '', pathInfo: '/rewritten/x', query: 'y=1' });
  });

  it('§3.5 a query rewritten by earlier middleware is what the callable sees, also under koa-mount', async () => {
    const app = quietKoa()
      .use(async (ctx, next) => {
        ctx.querystring = 'tenant=t1';
        await next();
      })
      .use(mount('/m', checked))
      .use(checked);
    expect(await seen(app, '/x?a=1')).toMatchObject({ scriptName: '', pathInfo: '/x', query: 'tenant=t1' });
    expect(await seen(app, '/m/x%3Fy')).toMatchObject({ scriptName: '/m', pathInfo: '/x?y', rawPath: '/m/x%3Fy', query: 'tenant=t1' });
  });

  it('§3.3 a malformed path is a 400 answered by Koa, without calling the callable', async () => {
    let called = false;
    const app = quietKoa().use(toKoa(() => ((called = true), [])));
    const server = await listen(app);
    const res = await fetchRaw(server.url, '/bad%zz');
    expect([res.status, called]).toEqual([400, false]);
  });
});

describe('toKoa: a path not in normal form is redirected to it (§3.3, §14.2)', () => {
  /** Serves everything under /admin, as an NGI application routing on PATH_INFO with `mount` (which normalizes it). */
  const secrets = toKoa(
    mountApps({
      '/admin': (environ, startResponse) => {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return [`secret ${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
      },
    }),
  );
  const guard: Middleware = (ctx) => {
    ctx.status = 401;
    ctx.body = `guarded ${ctx.method} ${ctx.originalUrl}`;
  };
  const hosts = {
    'koa-mount': () => quietKoa().use(mount('/admin', guard)).use(secrets),
    '@koa/router': () => quietKoa().use(new Router().all('/admin{/*rest}', guard).routes()).use(secrets),
    '@koa/router 13': () => quietKoa().use(new Router13().all('/admin/:rest*', guard).routes()).use(secrets),
  };

  describe.each(Object.entries(hosts))('guarded with %s', (_name, host) => guardBypassCases(() => listen(host())));

  it('after a middleware rewrote the URL, sends the client to its own path normalized, which the rewrite makes again', async () => {
    const app = quietKoa()
      .use((ctx, next) => {
        ctx.url = '/v2' + ctx.url;
        return next();
      })
      .use(checked);
    const { url } = await listen(app);
    const { hops, last } = await follow(url, '/%61?q=1');
    expect([hops, (last.json() as Seen).pathInfo]).toEqual([['/a?q=1'], '/v2/a']);
  });

  it('serves a path in normal form at once: escapes it needs, in either letter case, and no dot segment', async () => {
    const { url } = await listen(quietKoa().use(checked));
    for (const [path, pathInfo] of [
      ['/plain/path', '/plain/path'],
      ['/caf%C3%A9', '/café'],
      ['/caf%c3%a9', '/café'],
      ['/a%20b/%3F%23%25', '/a b/?#%'],
      ['/.well-known/x..y/', '/.well-known/x..y/'],
    ]) {
      const res = await fetchRaw(url, path!);
      expect([res.status, res.json().pathInfo, res.json().rawPath]).toEqual([200, pathInfo, path]);
    }
  });

  it('under koa-mount or a router prefix, redirects to the prefix as the client spelled it, the normal form of the rest and the query', async () => {
    const router = new Router().all('/t/:id{/*rest}', checked);
    const { url } = await listen(quietKoa().use(mount('/legacy', checked)).use(router.routes()));
    expect(await follow(url, '/legacy/x/../y?q=1')).toMatchObject({ hops: ['/legacy/y?q=1'], last: { status: 200 } });
    expect(await follow(url, '/legacy/..')).toMatchObject({ hops: ['/legacy/'], last: { status: 200 } });
    // The router matched `/t/%41b` with its parameter: the prefix stays so, and the redirect does not loop.
    const { hops, last } = await follow(url, '/t/%41b/%7Ex%2Fy');
    expect([hops, last.json().scriptName, last.json().pathInfo]).toEqual([['/t/%41b/~x/y'], '/t/Ab', '/~x/y']);
  });

  it('with direct, too; a listener routes on the raw path as Koa does, so its %2F stays', async () => {
    const listener = toKoa(fromNodeListener((req, res) => res.end(`listener ${req.url}`)), { direct: true });
    const { url } = await listen(quietKoa().use(mount('/admin', guard)).use(listener));
    for (const path of ['/%61dmin/secret', '/x/../admin/secret', '//admin/secret']) {
      const { hops, last } = await follow(url, path);
      expect([hops, last.status, last.text()]).toEqual([['/admin/secret'], 401, 'guarded GET /admin/secret']);
    }
    expect((await fetchRaw(url, '/admin%2Fsecret')).text()).toBe('listener /admin%2Fsecret');
    expect((await follow(url, '/%61%2Fb')).hops).toEqual(['/a%2Fb']);
  });
});
