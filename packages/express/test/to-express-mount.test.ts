import { HttpError, mount, request, validator, type Application, type Environ } from '@ngi/core';
import express, { type ErrorRequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { fromExpress, toExpress } from '../src/index.ts';
import { serve } from '@ngi/node';
import { fetchRaw, follow, listen, quiet, recorder, through } from './_helpers.ts';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { guardBypassCases } from '../../../test/fixtures/non-normal-paths.ts';

/** Answers with what the application saw of the request. */
const echo: Application = (environ, startResponse) => {
  const body = JSON.stringify({
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    rawPath: environ['ngi.raw_path'],
    query: environ.QUERY_STRING,
    method: environ.REQUEST_METHOD,
    host: [environ.SERVER_NAME, environ.SERVER_PORT],
    remote: environ.REMOTE_ADDR,
  });
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [body];
};

/** Renders any error Express's error handlers receive, so tests can see what reached them. */
const showError: ErrorRequestHandler = (error: Error & { status?: number }, _req, res, _next) => {
  res.status(error.status ?? 500).type('text/plain').send(`handled: ${error.message}`);
};

describe('toExpress: SCRIPT_NAME and PATH_INFO from where Express mounted the callable', () => {
  it('§3.2 §3.3 §4.7 at the root: SCRIPT_NAME "", PATH_INFO decoded, ngi.raw_path and the query raw', async () => {
    const { url } = await listen(express().use(toExpress(echo)));
    const seen = (await fetchRaw(url, '/a/b%3Fc/caf%C3%A9?x=%20y&z')).json();
    expect(seen).toMatchObject({ scriptName: '', pathInfo: '/a/b?c/café', rawPath: '/a/b%3Fc/caf%C3%A9', query: 'x=%20y&z' });
    expect(seen).toMatchObject({ host: ['127.0.0.1', url.split(':')[2]], remote: '127.0.0.1', method: 'GET' });
  });

  it('§3.2 §3.4 under app.use("/legacy"): the prefix is SCRIPT_NAME, at the mount point PATH_INFO is "" or "/"', async () => {
    const { url } = await listen(express().use('/legacy', toExpress(echo)));
    const view = async (path: string) => {
      const seen = (await fetchRaw(url, path)).json();
      return [seen.scriptName, seen.pathInfo, seen.rawPath, seen.query];
    };
    expect(await view('/legacy/a/b?q=1')).toEqual(['/legacy', '/a/b', '/legacy/a/b', 'q=1']);
    expect(await view('/legacy')).toEqual(['/legacy', '', '/legacy', '']);
    expect(await view('/legacy?q=1')).toEqual(['/legacy', '', '/legacy', 'q=1']);
    expect(await view('/legacy/')).toEqual(['/legacy', '/', '/legacy/', '']);
    // A fragment is no part of the path (§3.5): the mount point is still the mount point.
    expect(await view('/legacy#top')).toEqual(['/legacy', '', '/legacy', '']);
  });

  it('§3.3 an absolute-form target under app.use("/legacy"): only its path counts, as at the root', async () => {
    const { url } = await listen(express().use('/legacy', toExpress(echo)).use(showError));
    const seen = (await fetchRaw(url, `${url}/legacy/a%20b?q=1`)).json();
    expect([seen.scriptName, seen.pathInfo, seen.rawPath, seen.query]).toEqual(['/legacy', '/a b', '/legacy/a%20b', 'q=1']);
  });

  it('§3.2 a prefix with a parameter that decodes to a trailing "/" leaves it to PATH_INFO', async () => {
    const { url } = await listen(express().use('/files/:name', toExpress(validator(echo))).use(showError));
    const seen = (await fetchRaw(url, '/files/a%2F')).json();
    expect([seen.scriptName, seen.pathInfo, seen.rawPath]).toEqual(['/files/a', '/', '/files/a%2F']);
  });

  it.each([
    ['/t/%2F%2Fevil.example/x', '"/t///evil.example"'],
    ['/t/%5Cevil.example/x', '"/t/\\\\evil.example"'],
    ['/t/..%2F..%2Fevil.example/x', '"/t/../../evil.example"'],
    ['/t/a%09b/x', '"/t/a\\tb"'],
  ])('§3.2 a prefix with a parameter that decodes to no path in normal form (%s) is a 400: SCRIPT_NAME goes into links', async (path, shown) => {
    let called = false;
    const app = express().use('/t/:tenant', toExpress((e, s) => ((called = true), echo(e, s))));
    const { url } = await listen(app.use(showError));
    const res = await fetchRaw(url, path);
    expect([res.status, res.text(), called]).toEqual([400, `handled: Bad request: the mount prefix ${shown} is not a path in normal form`, false]);
    expect((await fetchRaw(url, '/t/acme%2Fwest/x')).json()).toMatchObject({ scriptName: '/t/acme/west', pathInfo: '/x' });
  });

  it('§14.2 never matches /legacyx: Express mounts on segment boundaries and the callable is not reached', async () => {
    const app = express().use('/legacy', toExpress(echo));
    app.use((_req, res) => void res.status(404).send('express 404'));
    const { url } = await listen(app);
    expect((await fetchRaw(url, '/legacyx/a')).text()).toBe('express 404');
  });

  it('§3.2 inside nested Routers and under route parameters: SCRIPT_NAME is everything Express matched', async () => {
    const v1 = express.Router().use('/v1', toExpress(echo));
    const app = express().use('/api', express.Router().use(v1)).use('/files/:name', toExpress(echo));
    const { url } = await listen(app);
    const nested = (await fetchRaw(url, '/api/v1/items/7')).json();
    expect([nested.scriptName, nested.pathInfo, nested.rawPath]).toEqual(['/api/v1', '/items/7', '/api/v1/items/7']);
    const param = (await fetchRaw(url, '/files/a%20b/x')).json();
    expect([param.scriptName, param.pathInfo, param.rawPath]).toEqual(['/files/a b', '/x', '/files/a%20b/x']);
  });

  it('§3.2 as a route handler (app.get) nothing is trimmed: SCRIPT_NAME "" and the whole path', async () => {
    const { url } = await listen(express().get('/exact/:id', toExpress(echo)));
    const seen = (await fetchRaw(url, '/exact/9?x')).json();
    expect([seen.scriptName, seen.pathInfo, seen.query]).toEqual(['', '/exact/9', 'x']);
  });

  it('§4.7 follows a req.url an earlier middleware rewrote, and keeps ngi.raw_path as received', async () => {
    const app = express().use((req, _res, next) => {
      req.url = req.url.replace('/old/', '/new/');
      next();
    });
    const { url } = await listen(app.use(toExpress(echo)));
    const seen = (await fetchRaw(url, '/old/page?x=1')).json();
    expect([seen.scriptName, seen.pathInfo, seen.rawPath, seen.query]).toEqual(['', '/new/page', '/old/page', 'x=1']);
  });

  it('§3.3 a path that cannot be decoded goes to Express as a 400 error, the callable never runs', async () => {
    let called = false;
    const app = express().use(toExpress((e, s) => ((called = true), echo(e, s))));
    const { url } = await listen(app.use(showError));
    const res = await fetchRaw(url, '/bad%zzpath');
    expect([res.status, res.text(), called]).toEqual([400, 'handled: Malformed percent-encoding in path: "/bad%zzpath"', false]);
  });

  it('hands Express an error instead of a second response when an earlier handler already sent the head', async () => {
    const app = express().use((_req, res, next) => (res.writeHead(200, { 'content-type': 'text/plain' }).write('early'), next()));
    let error: unknown;
    app.use(toExpress(echo)).use(((caught, _req, res, _next) => ((error = caught), res.end())) as ErrorRequestHandler);
    const { url } = await listen(app);
    expect((await fetchRaw(url, '/')).text()).toBe('early');
    expect((error as Error).message).toBe('toExpress: an earlier handler already sent the response head');
  });

  it('§15.1 exposes the Express request as environ["express.request"]', async () => {
    const app = express().use((req, _res, next) => ((req as { user?: string }).user = 'ada', next()));
    const user: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [(environ['express.request'] as { user: string }).user];
    };
    const { url } = await listen(app.use(toExpress(user)));
    expect((await fetchRaw(url, '/')).text()).toBe('ada');
  });
});

describe('toExpress: a path not in normal form is redirected to it (§3.3, §14.2)', () => {
  /** Serves everything under /admin, as an NGI application routing on PATH_INFO with `mount` (which normalizes it). */
  const secrets = mount({
    '/admin': (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`secret ${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
    },
  });

  /** Express guarding /admin in front of the application at the root. */
  function guarded(): express.Express {
    const app = express();
    app.use('/admin', (req, res) => void res.status(401).send(`guarded ${req.method} ${req.baseUrl}${req.path}`));
    return app.use(toExpress(secrets));
  }

  guardBypassCases(() => listen(guarded()));

  it('after a middleware rewrote req.url, sends the client to its own path normalized, which the rewrite makes again', async () => {
    const app = express();
    // A locale prefix taken off, and a version prefix put on.
    app.use((req, _res, next) => {
      const locale = /^\/(en|fr)(\/.*)$/.exec(req.url);
      if (locale) req.url = locale[2]!;
      else req.url = '/v2' + req.url;
      next();
    });
    app.use('/v2', toExpress(echo));
    app.use('/shop', toExpress(echo));
    const { url } = await listen(app);
    const shop = await follow(url, '/en/shop/x/../%61?q=1');
    expect([shop.hops, shop.last.json().scriptName, shop.last.json().pathInfo]).toEqual([['/en/shop/a?q=1'], '/shop', '/a']);
    const versioned = await follow(url, '/%61');
    expect([versioned.hops, versioned.last.json().scriptName, versioned.last.json().pathInfo]).toEqual([['/a'], '/v2', '/a']);
  });

  it('serves a path in normal form at once: escapes it needs, in either letter case, and no dot segment', async () => {
    const { url } = await listen(express().use(toExpress(echo)));
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

  it('under a prefix, redirects to the prefix as the client spelled it, the normal form of the rest and the query', async () => {
    const app = express().use('/legacy', toExpress(echo)).use('/t/:id', toExpress(echo));
    const { url } = await listen(app);
    expect(await follow(url, '/legacy/x/../y?q=1')).toMatchObject({ hops: ['/legacy/y?q=1'], last: { status: 200 } });
    expect(await follow(url, '/legacy/..')).toMatchObject({ hops: ['/legacy/'], last: { status: 200 } });
    // Express matched `/t/%41b` with its parameter: the prefix stays so, and the redirect does not loop.
    const { hops, last } = await follow(url, '/t/%41b/%7Ex%2F');
    expect([hops, last.json().scriptName, last.json().pathInfo]).toEqual([['/t/%41b/~x/'], '/t/Ab', '/~x/']);
  });

  it('an Express app under toExpress routes on the raw path, as Express does: its %2F stays data in a parameter', async () => {
    const legacy = express().get('/files/:name', (req, res) => void res.send(`file ${req.params.name}`));
    const { url } = await listen(express().use('/legacy', toExpress(fromExpress(legacy))));
    const res = await fetchRaw(url, '/legacy/files/a%2Fb');
    expect([res.status, res.text()]).toEqual([200, 'file a/b']);
    // A needless escape is redirected all the same, and the %2F kept.
    const { hops, last } = await follow(url, '/legacy/files/%61%2Fb');
    expect([hops, last.text()]).toEqual([['/legacy/files/a%2Fb'], 'file a/b']);
  });
});

describe('toExpress: headers earlier middleware set', () => {
  it('§6.3 keeps CORS, cookies and Vary from middleware, adds every set-cookie of the callable, and lets it override the rest', async () => {
    const app = express().use((_req, res, next) => {
      res.set({ 'access-control-allow-origin': '*', 'cache-control': 'no-store', vary: 'Origin' });
      res.cookie('session', 'abc');
      next();
    });
    const callable: Application = (_environ, startResponse) => {
      startResponse('200 OK', [
        ['content-type', 'text/plain'],
        ['cache-control', 'max-age=60'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['vary', 'Accept-Encoding'],
        ['x-multi', 'one'],
        ['x-multi', 'two'],
      ]);
      return ['ok'];
    };
    const { url } = await listen(app.use(toExpress(callable)));
    const res = await fetchRaw(url, '/');
    expect(res.all('set-cookie')).toEqual(['session=abc; Path=/', 'a=1', 'b=2']);
    expect(res.all('vary').join(', ')).toBe('Origin, Accept-Encoding');
    expect(res.all('cache-control')).toEqual(['max-age=60']);
    expect(res.all('x-multi')).toEqual(['one', 'two']);
    expect([res.header('access-control-allow-origin'), res.header('x-powered-by'), res.header('content-type')]).toEqual(['*', 'Express', 'text/plain']);
  });

  it('§6.3 keeps every repeated header when middleware wrapped writeHead, as on-headers does for compression and sessions', async () => {
    const app = express().disable('x-powered-by');
    app.use((_req, res, next) => {
      // What on-headers does: run a listener before the head, and set a raw array's pairs one by one.
      const writeHead = res.writeHead;
      res.writeHead = function (this: typeof res, status: number, ...rest: unknown[]) {
        const headers = rest.find((arg) => Array.isArray(arg)) as [string, string][] | undefined;
        for (const [name, value] of headers ?? []) this.setHeader(name, value);
        return writeHead.call(this, status, ...(rest.filter((arg) => !Array.isArray(arg)) as [])) as typeof res;
      } as typeof res.writeHead;
      next();
    });
    const callable: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
      return ['ok'];
    };
    const { url } = await listen(app.use(toExpress(callable)));
    expect((await fetchRaw(url, '/')).all('set-cookie')).toEqual(['a=1', 'b=2']);
  });
});

describe('toExpress: errors before the head go to Express', () => {
  const failures: [string, (error: Error) => Application][] = [
    ['a synchronous throw', (error) => () => { throw error; }],
    ['a rejected promise', (error) => async () => { throw error; }],
    ['a body that throws before its first chunk', (error) => (_e, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        await Promise.resolve();
        throw error;
      })();
    }],
  ];
  for (const [what, failing] of failures) {
    it(`§11.1 ${what} reaches Express's error handlers as the same error object`, async () => {
      const thrown = new Error(`boom: ${what}`);
      let received: unknown;
      const app = express().use(toExpress(failing(thrown), { errors: quiet }));
      app.use(((error, req, res, next) => ((received = error), showError(error, req, res, next))) as ErrorRequestHandler);
      const { url } = await listen(app);
      const res = await fetchRaw(url, '/');
      expect([res.status, res.text()]).toEqual([500, `handled: boom: ${what}`]);
      expect(received).toBe(thrown);
    });
  }

  it('§11.1 a thrown value Express\'s router would take for no error or for next("route") reaches its error handlers as an Error', async () => {
    for (const thrown of [undefined, null, 0, false, '', 'route', 'router']) {
      let received: unknown;
      const app = express().use(toExpress(() => { throw thrown; }, { errors: quiet }));
      app.get('/x', (_req, res) => void res.send('later'));
      app.use(((error, req, res, next) => ((received = error), showError(error, req, res, next))) as ErrorRequestHandler);
      const { url } = await listen(app);
      const what = typeof thrown === 'string' ? JSON.stringify(thrown) : String(thrown);
      expect([what, (await fetchRaw(url, '/x')).text()]).toEqual([what, `handled: toExpress: the application threw ${what}`]);
      expect((received as Error).cause).toBe(thrown);
    }
  });

  it('§9.4 the failed body is still closed, once, before Express renders the error', async () => {
    const log: string[] = [];
    const failing: Application = (_e, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (function* () {
        throw new Error('sync body boom');
      })();
      return Object.assign(body, { close: () => void log.push('closed') });
    };
    const app = express().use(toExpress(failing, { errors: quiet }));
    app.use(((error: Error, _req, res, _next) => (log.push(`handler: ${error.message}`), res.status(500).end())) as ErrorRequestHandler);
    const { url } = await listen(app);
    expect((await fetchRaw(url, '/')).status).toBe(500);
    expect(log).toEqual(['closed', 'handler: sync body boom']);
  });

  it("§11.1 without an error handler Express's final handler renders the error's status", async () => {
    const tooLarge: Application = () => { throw new HttpError(413, 'too big'); };
    const { url } = await listen(express().use(toExpress(tooLarge)));
    const res = await fetchRaw(url, '/');
    expect([res.status, res.header('content-type')]).toEqual([413, 'text/html; charset=utf-8']);
  });

  it('§11.2 an error after the head cuts the response short instead of reaching Express', async () => {
    let handled = false;
    const app = express().use(toExpress(failsLate, { errors: quiet }));
    app.use(((_error, _req, _res, next) => ((handled = true), next())) as ErrorRequestHandler);
    const { url } = await listen(app);
    await expect(fetchRaw(url, '/')).rejects.toThrow();
    expect(handled).toBe(false);
  });
});

describe('toExpress: the environ', () => {
  it('gives the callable a complete environ (§2–§5), checked by the validator', async () => {
    let environ: Environ | undefined;
    const app = express().use('/v', toExpress(validator((e, s) => ((environ = e), echo(e, s)))));
    const { url } = await listen(app);
    const res = await fetchRaw(url, '/v/x', { method: 'POST', body: 'abc', headers: { 'x-custom': 'yes' } });
    expect(res.status).toBe(200);
    expect(environ).toMatchObject({ SERVER_PROTOCOL: 'HTTP/1.1', CONTENT_LENGTH: '3', HTTP_X_CUSTOM: 'yes', 'ngi.url_scheme': 'http' });
  });

  /** Writes to `ngi.errors` and answers with `ngi.multiprocess`. */
  const report: Application = (environ, startResponse) => {
    environ['ngi.errors'].write('reported by the inner callable\n');
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return [String(environ['ngi.multiprocess'])];
  };

  it('§4.4 §4.5 inside an Express app served as a callable, ngi.errors and ngi.multiprocess are the NGI server\'s', async () => {
    const site = through(fromExpress(express().use('/inner', toExpress(report))));
    const res = await request((environ, startResponse) => site({ ...environ, 'ngi.multiprocess': true }, startResponse), { url: '/inner/x' });
    expect([res.status, res.text(), res.errors]).toEqual([200, 'true', ['reported by the inner callable\n']]);
  });

  it('§4.4 §4.5 so they are when the server hands Node\'s own request to the Express app', async () => {
    const log = recorder();
    const server = await serve(fromExpress(express().use('/inner', toExpress(report))), { port: 0, errors: log, multiprocess: true, gracefulTimeout: 0 });
    try {
      const res = await fetchRaw(server.url, '/inner/x');
      expect([res.status, res.text(), log.lines]).toEqual([200, 'true', ['reported by the inner callable\n']]);
    } finally {
      await server.close();
    }
  });
});
