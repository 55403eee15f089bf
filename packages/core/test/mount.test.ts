import { describe, expect, it } from 'vitest';
import { createEnviron, mount, request, type Application, type Environ, type HeaderList, type Write } from '../src/index.ts';

/** An app that answers with its name and the SCRIPT_NAME / PATH_INFO it saw. */
const named =
  (name: string): Application =>
  (environ, startResponse) => {
    startResponse('200 OK', [['content-type', 'application/json']]);
    return [JSON.stringify({ name, script: environ.SCRIPT_NAME, path: environ.PATH_INFO })];
  };

const site = mount({
  '/': named('root'),
  '/api': named('api'),
  '/api/v2/': named('v2'),
  '/admin': named('admin'),
  '/public': named('public'),
  '/café': named('cafe'),
  'http://admin.example.com/': named('admin-host'),
  'http://example.com:8080/api': named('port-8080'),
  'https://Example.COM/x': named('example-x'),
});

async function dispatch(app: Application, url: string, headers: Record<string, string> = {}) {
  const res = await request(app, { url, headers });
  expect(res.errors).toEqual([]);
  return res.json() as { name: string; script: string; path: string };
}

describe('mount (§14.2)', () => {
  it.each([
    // prefixes and segment boundaries
    ['/api', 'api', '/api', ''],
    ['/api/', 'api', '/api', '/'],
    ['/api/users?x=1', 'api', '/api', '/users'],
    ['/apix', 'root', '', '/apix'],
    ['/ap', 'root', '', '/ap'],
    // the longest prefix wins; a trailing "/" in the key is dropped
    ['/api/v2', 'v2', '/api/v2', ''],
    ['/api/v2/users', 'v2', '/api/v2', '/users'],
    ['/api/v2x', 'api', '/api', '/v2x'],
    // the root entry
    ['/', 'root', '', '/'],
    ['/other/page', 'root', '', '/other/page'],
    // decoded paths (§3.3): an encoded prefix cannot slip past its mount (CVE-2026-22031)
    ['/%61dmin/x', 'admin', '/admin', '/x'],
    ['/%41dmin', 'root', '', '/Admin'],
    ['/api%2Fusers', 'api', '/api', '/users'],
    ['/caf%C3%A9/menu', 'cafe', '/café', '/menu'],
    // dot-segments and repeated slashes are resolved first, never above the root
    ['/public/../admin/x', 'admin', '/admin', '/x'],
    ['/public/%2e%2e/admin', 'admin', '/admin', ''],
    ['/../../admin/./x/', 'admin', '/admin', '/x/'],
    ['/admin/..', 'root', '', '/'],
    ['/api/./v2/.', 'v2', '/api/v2', '/'],
    ['//admin//x', 'admin', '/admin', '/x'],
    ['/public/...', 'public', '/public', '/...'],
  ])('§14.2 %s → %s with SCRIPT_NAME %j and PATH_INFO %j', async (url, name, script, path) => {
    expect(await dispatch(site, url)).toEqual({ name, script, path });
  });

  it.each([
    // host entries come before path entries, whatever their length
    ['http://admin.example.com/api/x', 'admin-host', '', '/api/x'],
    ['http://ADMIN.Example.com:9000/', 'admin-host', '', '/'],
    // a key with a port needs that port; without one, any port matches
    ['http://example.com:8080/api/x', 'port-8080', '/api', '/x'],
    ['http://example.com:9090/api/x', 'api', '/api', '/x'],
    ['https://example.com/x/y', 'example-x', '/x', '/y'],
    ['http://other.example.com/x', 'root', '', '/x'],
  ])('§14.2 host entries: %s → %s', async (url, name, script, path) => {
    expect(await dispatch(site, url)).toEqual({ name, script, path });
  });

  it('§14.2 prefers a host entry with the request’s port to one without a port', async () => {
    const app = mount({ 'http://example.com/': named('any-port'), 'http://example.com:8080/': named('8080') });
    expect((await dispatch(app, 'http://example.com:8080/')).name).toBe('8080');
    expect((await dispatch(app, 'http://example.com:8081/')).name).toBe('any-port');
  });

  it('§14.2 compares the key port with the scheme default when Host has none', async () => {
    const app = mount({ 'http://example.com:443/': named('tls'), '/': named('root') });
    expect((await dispatch(app, 'https://example.com/a')).name).toBe('tls');
    expect((await dispatch(app, 'http://example.com/a')).name).toBe('root');
  });

  it('§14.2 matches a key naming an internationalized host, which a client sends in its ASCII form', async () => {
    const app = mount({ 'http://bücher.example/': named('idn'), 'http://[2001:db8::1]:8080/v6': named('v6'), '/': named('root') });
    expect((await dispatch(app, 'http://bücher.example/x')).name).toBe('idn');
    expect((await dispatch(app, '/x', { host: 'XN--BCHER-KVA.example' })).name).toBe('idn');
    expect((await dispatch(app, 'http://bucher.example/x')).name).toBe('root');
    expect(await dispatch(app, 'http://[2001:db8::1]:8080/v6/x')).toEqual({ name: 'v6', script: '/v6', path: '/x' });
    expect((await dispatch(app, 'http://[2001:db8::1]:8081/v6/x')).name).toBe('root');
  });

  it('§14.2 matches a host however the client spells it: a trailing dot, another letter case, another form of an address or port', async () => {
    const app = mount({
      'http://admin.example.com/': named('admin'),
      'http://[::1]:8080/': named('v6'),
      'http://127.0.0.1/': named('v4'),
      '/': named('root'),
    });
    const host = async (value: string): Promise<string> => (await dispatch(app, '/x', { host: value })).name;
    expect(await Promise.all(['admin.example.com.', 'ADMIN.example.COM.:80', 'admin.example.com:080'].map(host))).toEqual(['admin', 'admin', 'admin']);
    expect(await Promise.all(['[0:0:0:0:0:0:0:1]:8080', '[::0001]:08080', '[::1]:8081'].map(host))).toEqual(['v6', 'v6', 'root']);
    expect(await Promise.all(['127.1', '0x7f.0.0.1', '2130706433:80', '127.0.0.2'].map(host))).toEqual(['v4', 'v4', 'v4', 'root']);
    // Not a host at all: only path entries can match.
    expect(await Promise.all(['admin.example.com..', 'xn--.example'].map(host))).toEqual(['root', 'root']);
  });

  it('§14.2 reads a Host as a browser would write it (escapes decoded), and takes what is not a host for none', async () => {
    const app = mount({ 'http://admin.example.com/': named('admin'), 'http://example.com:80/': named('port-80'), '/': named('root') });
    // Values the server's own Host check lets through, or that an environ built elsewhere may hold.
    const host = async (value: string): Promise<string> => {
      const environ = createEnviron({ url: '/x' });
      environ.HTTP_HOST = value;
      let body = '';
      const chunks = app(environ, () => (async () => {}) as Write) as Iterable<string>;
      for (const chunk of chunks) body += chunk;
      return (JSON.parse(body) as { name: string }).name;
    };
    expect(await Promise.all(['admin.example.com%2E', 'admin.example.com%2e', 'ADMIN%2Eexample.com'].map(host))).toEqual(['admin', 'admin', 'admin']);
    const notHosts = ['x@admin.example.com', 'admin.example.com/x', 'admin.example.com#', 'admin.example.com?', 'admin.example.com\\', 'admin.example.com:1:80'];
    expect(await Promise.all(notHosts.map(host))).toEqual(notHosts.map(() => 'root'));
    expect(await Promise.all(['example.com:80', 'example.com:0080', 'example.com:0x50', 'example.com:8e1'].map(host))).toEqual(['port-80', 'port-80', 'root', 'root']);
  });

  it('§14.2 refuses a key whose host a URL parser would refuse or cut', () => {
    for (const key of ['http://xn--zz/', 'http://user@example.com/', 'http://example.com\\x/', 'http://example.com:0x50/']) {
      expect(() => mount({ [key]: named('a') }), key).toThrow(/the host is malformed/);
    }
  });

  it('§14.2 refuses two keys that spell the same host two ways', () => {
    expect(() => mount({ 'http://example.com./': named('a'), 'http://EXAMPLE.com/': named('b') })).toThrow(/repeats the location/);
    expect(() => mount({ 'http://[::1]:80/': named('a'), 'http://[0::1]:080/': named('b') })).toThrow(/repeats the location/);
  });

  it('§14.2 falls back to SERVER_NAME and SERVER_PORT without a Host header', async () => {
    const app = mount({ 'http://internal:8000/': named('internal'), '/': named('root') });
    const withoutHost =
      (name: string, port: string): Application =>
      (environ, startResponse) => {
        const { HTTP_HOST: _, ...rest } = environ;
        return app({ ...rest, SERVER_NAME: name, SERVER_PORT: port } as Environ, startResponse);
      };
    expect((await dispatch(withoutHost('Internal', '8000'), '/x')).name).toBe('internal');
    expect((await dispatch(withoutHost('internal', '8001'), '/x')).name).toBe('root');
  });

  it('§14.1 answers 404 with x-cascade: pass when nothing matches', async () => {
    const app = mount({ '/api': named('api') });
    for (const url of ['/apix', '/', '/other']) {
      const res = await request(app, { url });
      expect([res.status, res.header('x-cascade'), res.header('content-type'), res.text()]).toEqual([
        404,
        'pass',
        'text/plain',
        'Not Found',
      ]);
    }
  });

  it('refuses a fallback that is not an application when it is built, naming the adapter an Express app needs', () => {
    const expressApp = Object.assign(() => {}, { handle() {}, set() {}, use() {} });
    expect(() => mount({ '/api': named('api') }, { fallback: expressApp as never })).toThrow(
      'mount: options.fallback must be an application, got an Express app: wrap it, fromExpress(app) from @ngi/express',
    );
  });

  it('§14.2 sends unmatched requests to the fallback with environ unchanged', async () => {
    const app = mount({ '/api': named('api') }, { fallback: named('fallback') });
    expect(await dispatch(app, '/apix/y')).toEqual({ name: 'fallback', script: '', path: '/apix/y' });
    expect((await dispatch(app, '/api/y')).name).toBe('api');
  });

  it('§13.2 §14.2 dispatches on a copy and leaves the caller’s environ untouched', () => {
    let seen: Environ | undefined;
    const app = mount({
      '/admin': (environ, startResponse) => {
        seen = environ;
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return [];
      },
    });
    const environ = createEnviron({ url: '/x/../admin/users' });
    const before = { ...environ };
    app(environ, () => (async () => {}) as Write);
    expect(environ).toEqual(before);
    expect(seen).not.toBe(environ);
    expect([seen?.SCRIPT_NAME, seen?.PATH_INFO]).toEqual(['/admin', '/users']);
  });

  it('§13.2 a root entry that changes nothing gets the caller’s environ; one whose path it normalizes, or whose redirects it rewrites, a copy', () => {
    const seen: Environ[] = [];
    const root: Application = (environ, startResponse) => {
      seen.push(environ);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [];
    };
    const environs = ['/users', '//users', '/users'].map((url) => createEnviron({ url }));
    mount({ '/api': named('api'), '/': root })(environs[0]!, () => (async () => {}) as Write);
    mount({ '/api': named('api'), '/': root })(environs[1]!, () => (async () => {}) as Write);
    mount({ '/': root }, { rewriteRedirects: true })(environs[2]!, () => (async () => {}) as Write);
    expect(seen.map((environ, i) => environ === environs[i])).toEqual([true, false, false]);
    expect(seen.map((environ) => environ.PATH_INFO)).toEqual(['/users', '/users', '/users']);
    expect(environs[1]!.PATH_INFO).toBe('//users');
  });

  it('§14.2 nested mounts append to SCRIPT_NAME', async () => {
    const app = mount({ '/a': mount({ '/b': named('inner') }) });
    expect(await dispatch(app, '/a/b/c')).toEqual({ name: 'inner', script: '/a/b', path: '/c' });
    const under = await request(app, { url: '/base/a/b', scriptName: '/base' });
    expect(under.json()).toEqual({ name: 'inner', script: '/base/a/b', path: '' });
  });

  it.each([
    ['api', /"api"/],
    ['', /""/],
    ['ftp://host/x', /ftp:\/\/host\/x/],
    ['http://host:port/', /http:\/\/host:port\//],
    ['http://exa mple.com/', /exa mple/],
  ])('rejects the key %j with a TypeError naming it', (key, name) => {
    expect(() => mount({ [key]: named('x') })).toThrow(TypeError);
    expect(() => mount({ [key]: named('x') })).toThrow(name);
  });

  it.each([
    ['a Map', new Map([['/api', named('api')]]), 'got Map'],
    ['an application', named('api'), 'got function'],
    ['an array', [named('api')], 'got Array'],
    ['null', null, 'got null'],
  ])('rejects %s for the map instead of mounting nothing', (_what, map, got) => {
    expect(() => mount(map as unknown as Record<string, Application>)).toThrow(
      new TypeError(`mount: the map must be a plain object like { '/api': app }, ${got}`),
    );
  });

  it('rejects options that are not an object', () => {
    expect(() => mount({ '/api': named('api') }, null as unknown as object)).toThrow(/mount: options must be an object/);
  });

  it('§14.2 decodes a percent-encoded key, as PATH_INFO is decoded, so it still matches', async () => {
    const app = mount({ '/caf%C3%A9': named('cafe'), '/a%20b/': named('space') });
    expect(await dispatch(app, '/caf%C3%A9/menu')).toEqual({ name: 'cafe', script: '/café', path: '/menu' });
    expect(await dispatch(app, '/a%20b')).toEqual({ name: 'space', script: '/a b', path: '' });
    expect(() => mount({ '/café': named('a'), '/caf%C3%A9': named('b') })).toThrow(/repeats the location/);
    expect(() => mount({ '/%2e%2e/x': named('a') })).toThrow(/"\." and "\.\." segments/);
    expect(() => mount({ '/100%': named('a') })).toThrow(/%25/);
  });

  it.each(['/api/*', '/users/:id', '/a?b=1', '/a#top'])('refuses the key %s, which would never match what it means', (key) => {
    expect(() => mount({ [key]: named('a') })).toThrow(/a key is a plain path prefix \("\/api" covers "\/api\/…"\), without wildcards, parameters or a query/);
    // Meant literally, the character is written encoded.
    expect(() => mount({ [key.replace(/[*?#]|(?<=\/):/, (c) => `%${c.charCodeAt(0).toString(16)}`)]: named('a') })).not.toThrow();
  });

  it('§14.2 caseSensitive: false matches prefixes ignoring letter case, SCRIPT_NAME spelled as requested', async () => {
    const app = mount({ '/': named('root'), '/Admin': named('admin'), '/café': named('cafe') }, { caseSensitive: false });
    expect(await dispatch(app, '/ADMIN/Secret')).toEqual({ name: 'admin', script: '/ADMIN', path: '/Secret' });
    expect(await dispatch(app, '/admin')).toEqual({ name: 'admin', script: '/admin', path: '' });
    expect(await dispatch(app, '/CAF%C3%89/x')).toEqual({ name: 'cafe', script: '/CAFÉ', path: '/x' });
    expect(await dispatch(app, '/adminx')).toEqual({ name: 'root', script: '', path: '/adminx' });
    // A character whose lower case is longer (İ) further on changes nothing.
    expect(await dispatch(app, '/ADMIN/%C4%B0')).toEqual({ name: 'admin', script: '/ADMIN', path: '/İ' });
    const istanbul = mount({ '/': named('root'), '/İstanbul': named('city') }, { caseSensitive: false });
    expect(await dispatch(istanbul, '/%C4%B0stanbul/x')).toEqual({ name: 'city', script: '/İstanbul', path: '/x' });
    // By default, as URL paths compare: a guard there would not see /ADMIN.
    expect(await dispatch(mount({ '/': named('root'), '/admin': named('admin') }), '/ADMIN/x')).toEqual({ name: 'root', script: '', path: '/ADMIN/x' });
    expect(() => mount({ '/a': named('a'), '/A': named('b') }, { caseSensitive: false })).toThrow(/repeats the location/);
    expect(() => mount({ '/a': named('a') }, { caseSensitive: 'no' as unknown as boolean })).toThrow('mount: options.caseSensitive must be a boolean, got "no"');
  });

  it('rejects two keys for the same location, and values that are not apps', () => {
    expect(() => mount({ '/api': named('a'), '/api/': named('b') })).toThrow(/"\/api\/"/);
    expect(() => mount({ '/a/../b': named('a') })).toThrow(TypeError);
    expect(() => mount({ '/a': 'nope' as unknown as Application })).toThrow(TypeError);
  });
});

describe('mount rewriteRedirects (express#2348)', () => {
  const redirect =
    (location: string): Application =>
    (_environ, startResponse) => {
      const headers: HeaderList = [['content-type', 'text/plain'], ['Location', location]];
      startResponse('302 Found', headers);
      return [];
    };

  it.each([
    ['/login', '/legacy/login'],
    ['/login?next=/x', '/legacy/login?next=/x'],
    ['//evil.example/x', '//evil.example/x'],
    ['https://example.com/login', 'https://example.com/login'],
    ['login', 'login'],
    ['../up', '../up'],
  ])('rewrites Location %j to %j', async (location, expected) => {
    const app = mount({ '/legacy': redirect(location) }, { rewriteRedirects: true });
    expect((await request(app, { url: '/legacy/old' })).header('location')).toBe(expected);
  });

  it('leaves Location alone by default', async () => {
    const app = mount({ '/legacy': redirect('/login') });
    expect((await request(app, { url: '/legacy' })).header('location')).toBe('/login');
  });

  it('uses the whole SCRIPT_NAME the app saw, encoded', async () => {
    const app = mount({ '/café au lait': redirect('/login') }, { rewriteRedirects: true });
    const res = await request(app, { url: '/base/caf%C3%A9%20au%20lait/x', scriptName: '/base' });
    expect(res.header('location')).toBe('/base/caf%C3%A9%20au%20lait/login');
  });

  it('leaves a Location already under the SCRIPT_NAME alone (an app that builds it from its mount point)', async () => {
    const app = mount({ '/legacy': redirect('/legacy/static/docs/') }, { rewriteRedirects: true });
    expect((await request(app, { url: '/legacy/static/docs' })).header('location')).toBe('/legacy/static/docs/');
    const query = mount({ '/legacy': redirect('/legacy?page=2') }, { rewriteRedirects: true });
    expect((await request(query, { url: '/legacy/x' })).header('location')).toBe('/legacy?page=2');
    const nested = mount({ '/a': mount({ '/b': redirect('/a/b/login') }, { rewriteRedirects: true }) }, { rewriteRedirects: true });
    expect((await request(nested, { url: '/a/b' })).header('location')).toBe('/a/b/login');
    const sibling = mount({ '/legacy': redirect('/legacyx/login') }, { rewriteRedirects: true });
    expect((await request(sibling, { url: '/legacy' })).header('location')).toBe('/legacy/legacyx/login');
  });

  it.each([
    ['/%61pi', '/api'],
    ['/caf%c3%a9', '/café'],
  ])('leaves a Location built from the mount point as the client spelled it (%s) alone', async (spelled, key) => {
    // As Express's `res.redirect(req.baseUrl + '/login')` builds it.
    const fromBase: Application = (environ, startResponse) =>
      redirect(`${environ['ngi.raw_path'].slice(0, spelled.length)}/login`)(environ, startResponse);
    const app = mount({ [key]: fromBase }, { rewriteRedirects: true });
    expect((await request(app, { url: `${spelled}/x` })).header('location')).toBe(`${spelled}/login`);
    const unencoded = mount({ [key]: redirect(`${key}/login`) }, { rewriteRedirects: true });
    expect((await request(unencoded, { url: `${spelled}/x` })).header('location')).toBe(`${key}/login`);
  });

  it('prefixes once through nested rewriting mounts', async () => {
    const inner = mount({ '/b': redirect('/login') }, { rewriteRedirects: true });
    const outer = mount({ '/a': inner }, { rewriteRedirects: true });
    expect((await request(outer, { url: '/a/b' })).header('location')).toBe('/a/b/login');
    const plainOuter = mount({ '/a': inner });
    expect((await request(plainOuter, { url: '/a/b' })).header('location')).toBe('/a/b/login');
  });
});

describe('mount: the error argument (§13.5)', () => {
  it('rewriteRedirects passes the error argument of startResponse on unchanged, and its absence', () => {
    const error = new Error('db down');
    const calls: unknown[][] = [];
    const app = mount(
      {
        '/api': (_environ, startResponse) => {
          startResponse('302 Found', [['location', '/login']]);
          startResponse('503 Service Unavailable', [['content-type', 'text/plain']], error);
          return [];
        },
      },
      { rewriteRedirects: true },
    );
    app(createEnviron({ url: '/api/x' }), (...args) => (calls.push(args), async () => {}));
    expect(calls).toEqual([['302 Found', [['location', '/api/login']]], ['503 Service Unavailable', [['content-type', 'text/plain']], error]]);
    expect(calls[1]![2]).toBe(error);
  });
});
