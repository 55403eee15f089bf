import { describe, expect, it } from 'vitest';
import { createEnviron, proxyFix, request, type Application, type Environ, type ProxyFixOptions, type Write } from '../src/index.ts';

const KEYS = ['REMOTE_ADDR', 'ngi.url_scheme', 'HTTP_HOST', 'SERVER_NAME', 'SERVER_PORT', 'SCRIPT_NAME', 'PATH_INFO'] as const;

/** Answers the environ values proxyFix may change, plus what it kept in `proxy_fix.orig`. */
const echo: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'application/json']]);
  const seen = Object.fromEntries(KEYS.map((key) => [key, environ[key]]));
  return [JSON.stringify({ ...seen, orig: environ['proxy_fix.orig'] })];
};

async function seen(options: ProxyFixOptions | undefined, headers: Record<string, string>, url = 'http://internal:8000/x') {
  const res = await request(proxyFix(options)(echo), { url, headers, remoteAddress: '10.0.0.1' });
  expect(res.status).toBe(200);
  return res.json() as Record<string, string> & { orig: Record<string, string | undefined> };
}

describe('proxyFix', () => {
  it('trusts one proxy for X-Forwarded-For and X-Forwarded-Proto by default', async () => {
    const env = await seen(undefined, {
      'x-forwarded-for': 'spoofed, 203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-port': '1',
      'x-forwarded-prefix': '/evil',
    });
    expect(env).toMatchObject({
      REMOTE_ADDR: '203.0.113.7',
      'ngi.url_scheme': 'https',
      HTTP_HOST: 'internal:8000',
      SERVER_NAME: 'internal',
      SERVER_PORT: '8000',
      SCRIPT_NAME: '',
    });
  });

  it.each([
    [1, '198.51.100.2'],
    [2, '203.0.113.7'],
    [3, '192.0.2.55'],
    [4, '10.0.0.1'], // fewer values than trusted proxies: the header is ignored
  ])('X-Forwarded-For with for: %i uses the value that many from the right', async (count, addr) => {
    const env = await seen({ for: count }, { 'x-forwarded-for': '192.0.2.55, 203.0.113.7,198.51.100.2' });
    expect(env.REMOTE_ADDR).toBe(addr);
  });

  it.each([
    ['203.0.113.7', '203.0.113.7', undefined],
    ['203.0.113.7:4711', '203.0.113.7', '4711'],
    ['2001:db8::1', '2001:db8::1', undefined],
    ['[2001:db8::1]', '2001:db8::1', undefined],
    ['[2001:db8::1]:4711', '2001:db8::1', '4711'],
  ])('§3.9 X-Forwarded-For %j gives REMOTE_ADDR %j and REMOTE_PORT %j, not the proxy’s port', async (header, addr, port) => {
    // The server's REMOTE_PORT is the proxy's; next to the client's address it would describe no connection.
    const fromProxy: Application = (environ, startResponse) =>
      proxyFix()((inner, s) => {
        s('200 OK', [['content-type', 'application/json']]);
        return [JSON.stringify({ addr: inner.REMOTE_ADDR, port: inner.REMOTE_PORT ?? null, orig: inner['proxy_fix.orig'] })];
      })({ ...environ, REMOTE_PORT: '50000' }, startResponse);
    const res = await request(fromProxy, { headers: { 'x-forwarded-for': header }, remoteAddress: '10.0.0.1' });
    expect(res.json()).toMatchObject({ addr, port: port ?? null, orig: { REMOTE_ADDR: '10.0.0.1', REMOTE_PORT: '50000' } });
  });

  it.each(['unknown', '_hidden', '"203.0.113.7"', '[evil<script>]', '1.2.3.4:abc', '256.1.1.1', '203.0.113.7 extra', ':', 'deadbeef:', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4:80', '1::2::3'])(
    '§3.9 ignores an X-Forwarded-For value that is no IP address: %j',
    async (value) => {
      const env = await seen({ for: 1 }, { 'x-forwarded-for': value });
      expect(env.REMOTE_ADDR).toBe('10.0.0.1');
    },
  );

  it('ignores an X-Forwarded-For value whose port no TCP connection can have', async () => {
    const env = await seen({ for: 1 }, { 'x-forwarded-for': '203.0.113.7:65536' });
    const direct = await seen({ for: 1 }, {});
    expect(env.REMOTE_ADDR).toBe('10.0.0.1');
    expect(env.REMOTE_PORT).toBe(direct.REMOTE_PORT);
  });

  it('reads repeated X-Forwarded-For headers as one list (§5.3)', async () => {
    const res = await request(proxyFix({ for: 2 })(echo), { headers: [['x-forwarded-for', '192.0.2.1, 192.0.2.2'], ['x-forwarded-for', '192.0.2.3']] });
    expect((res.json() as Environ).REMOTE_ADDR).toBe('192.0.2.2');
  });

  it('ignores a header when its count is 0, and an empty value', async () => {
    expect((await seen({ for: 0 }, { 'x-forwarded-for': 'a' })).REMOTE_ADDR).toBe('10.0.0.1');
    expect((await seen({ for: 1 }, { 'x-forwarded-for': 'a, ' })).REMOTE_ADDR).toBe('10.0.0.1');
  });

  it.each([
    ['https', 'https'],
    ['HTTP', 'http'],
    ['ftp', 'http'],
    ['https, http', 'http'],
  ])('X-Forwarded-Proto %j gives ngi.url_scheme %j (§4.2)', async (header, scheme) => {
    expect((await seen({}, { 'x-forwarded-proto': header }))['ngi.url_scheme']).toBe(scheme);
  });

  it('§3.7 a forwarded scheme moves SERVER_PORT to its default when Host names no port', async () => {
    const env = await seen({}, { 'x-forwarded-proto': 'https' }, 'http://example.com/x');
    expect([env['ngi.url_scheme'], env.HTTP_HOST, env.SERVER_NAME, env.SERVER_PORT]).toEqual(['https', 'example.com', 'example.com', '443']);
    // A port the Host field names is the one the client used; it stays.
    expect((await seen({}, { 'x-forwarded-proto': 'https' })).SERVER_PORT).toBe('8000');
  });

  it('§3.7 keeps SERVER_PORT, the local port, when there is no Host header', async () => {
    const withoutHost: Application = (environ, startResponse) => {
      const { HTTP_HOST: _, ...rest } = environ;
      return proxyFix()(echo)({ ...rest, SERVER_PORT: '8000' } as Environ, startResponse);
    };
    const res = await request(withoutHost, { url: 'http://example.com/x', headers: { 'x-forwarded-proto': 'https' } });
    expect((res.json() as Environ).SERVER_PORT).toBe('8000');
  });

  it.each([
    ['example.com:8443', 'example.com:8443', 'example.com', '8443'],
    ['example.com', 'example.com', 'example.com', '443'],
    ['[2001:db8::1]:9000', '[2001:db8::1]:9000', '[2001:db8::1]', '9000'],
    ['[2001:db8::1]', '[2001:db8::1]', '[2001:db8::1]', '443'],
    ['bad host/path', 'internal:8000', 'internal', '8000'],
    ['example.com:99999', 'internal:8000', 'internal', '8000'],
    // In brackets only an IPv6 address: `new URL` refuses the others.
    ['[1.2.3.4]', 'internal:8000', 'internal', '8000'],
    ['[:]', 'internal:8000', 'internal', '8000'],
    ['[::1', 'internal:8000', 'internal', '8000'],
  ])('X-Forwarded-Host %j sets HTTP_HOST, SERVER_NAME and SERVER_PORT (§3.7)', async (header, host, name, port) => {
    const env = await seen({ host: 1 }, { 'x-forwarded-host': header, 'x-forwarded-proto': 'https' });
    expect([env.HTTP_HOST, env.SERVER_NAME, env.SERVER_PORT]).toEqual([host, name, port]);
  });

  it('X-Forwarded-Port replaces SERVER_PORT and the port in HTTP_HOST', async () => {
    const env = await seen({ port: 1, host: 1 }, { 'x-forwarded-host': 'example.com:1111', 'x-forwarded-port': '8443' });
    expect([env.HTTP_HOST, env.SERVER_NAME, env.SERVER_PORT]).toEqual(['example.com:8443', 'example.com', '8443']);
    const plain = await seen({ port: 1 }, { 'x-forwarded-port': '443' });
    expect([plain.HTTP_HOST, plain.SERVER_PORT]).toEqual(['internal:443', '443']);
    expect((await seen({ port: 1 }, { 'x-forwarded-port': 'https' })).SERVER_PORT).toBe('8000');
    expect((await seen({ port: 1 }, { 'x-forwarded-port': '65536' })).SERVER_PORT).toBe('8000');
    expect((await seen({ port: 1 }, { 'x-forwarded-port': '65535' })).SERVER_PORT).toBe('65535');
  });

  it.each([
    ['/public', '/public/app'],
    ['/public/', '/public/app'],
    ['/caf%C3%A9', '/café/app'],
    // §2.4: header octets arrive as Latin-1; an unencoded UTF-8 prefix is still UTF-8
    ['/caf\u00c3\u00a9', '/café/app'],
    ['/caf\u00e9', '/app'],
    ['/%zz', '/app'],
    ['//evil.example', '/evil.example/app'],
    ['/', '/app'],
    ['public', '/app'],
    // What a URL parser reads as another host: `/\evil.example` is `//evil.example` to a browser; a tab is stripped.
    ['/\\evil.example', '/app'],
    ['/%5Cevil.example', '/app'],
    ['/%09/evil.example', '/app'],
    ['/a%0d%0ab', '/app'],
    ['/public/..', '/app'],
    ['/./public', '/app'],
  ])('§3.2 X-Forwarded-Prefix %j is prepended to SCRIPT_NAME', async (header, scriptName) => {
    const res = await request(proxyFix({ prefix: 1 })(echo), {
      url: '/app/x',
      scriptName: '/app',
      headers: { 'x-forwarded-prefix': header },
    });
    expect((res.json() as Environ).SCRIPT_NAME).toBe(scriptName);
  });

  it('§15.1 keeps the values it replaced under proxy_fix.orig', async () => {
    const env = await seen(
      { for: 1, proto: 1, host: 1, port: 1, prefix: 1 },
      {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'example.com',
        'x-forwarded-port': '8443',
        'x-forwarded-prefix': '/p',
      },
    );
    expect(env).toMatchObject({ REMOTE_ADDR: '203.0.113.7', HTTP_HOST: 'example.com:8443', SCRIPT_NAME: '/p' });
    expect(env.orig).toEqual({
      REMOTE_ADDR: '10.0.0.1',
      'ngi.url_scheme': 'http',
      HTTP_HOST: 'internal:8000',
      SERVER_NAME: 'internal',
      SERVER_PORT: '8000',
      SCRIPT_NAME: '',
    });
  });

  it('§13.2 works on a copy of environ', () => {
    const environ = createEnviron({ headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } });
    const before = { ...environ };
    let inner: Environ | undefined;
    proxyFix()((e) => ((inner = e), []))(environ, () => (async () => {}) as Write);
    expect(environ).toEqual(before);
    expect([inner?.REMOTE_ADDR, inner?.['ngi.url_scheme']]).toEqual(['203.0.113.7', 'https']);
  });

  it.each([{ for: -1 }, { proto: 1.5 }, { host: Number.NaN }, { prefix: '1' }, { x_for: 1 }])(
    'rejects the options %j with a TypeError',
    (options) => {
      expect(() => proxyFix(options as ProxyFixOptions)).toThrow(TypeError);
    },
  );

  it.each([
    ['null', null, 'proxyFix: options must be an object like { for: 1, proto: 1 }, got null'],
    ['an array', [1], 'proxyFix: options must be an object like { for: 1, proto: 1 }, got Array'],
    ['an application', echo, 'proxyFix: options must be an object like { for: 1, proto: 1 }, got an application: use proxyFix(options)(app)'],
  ])('rejects %s for options, saying what it takes', (_what, options, message) => {
    expect(() => proxyFix(options as ProxyFixOptions)).toThrow(new TypeError(message));
  });

  it('rejects options and an application together (werkzeug\'s order), and a middleware given what is not an application', () => {
    const call = proxyFix as (...args: unknown[]) => unknown;
    expect(() => call({ for: 1 }, echo)).toThrow(new TypeError('proxyFix: takes only options; give the application to the middleware it returns, proxyFix(options)(app)'));
    expect(() => proxyFix({ for: 1 })(undefined as never)).toThrow(new TypeError('proxyFix: the middleware expected an NGI application, got undefined'));
  });
});
