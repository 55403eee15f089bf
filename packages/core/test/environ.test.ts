import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import { connect, isIP, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HttpError,
  addRequestHeaders,
  canonicalPath,
  createEnviron,
  isIpAddress,
  mount,
  normalizePath,
  parseTarget,
  proxyFix,
  readBody,
  request,
  requestHeaders,
  requestUrl,
  shiftPath,
  splitRawPath,
  type Application,
  type Environ,
} from '../src/index.ts';

describe('request target (§3.3, §3.5, §4.7)', () => {
  it.each([
    ['/', '/', '/', ''],
    ['/a%20b/c?x=1&y=%20', '/a%20b/c', '/a b/c', 'x=1&y=%20'],
    ['/caf%C3%A9', '/caf%C3%A9', '/café', ''],
    ['/a%2Fb', '/a%2Fb', '/a/b', ''],
    ['/p?q#frag', '/p', '/p', 'q'],
    ['/p?q=%zz&r=%2F', '/p', '/p', 'q=%zz&r=%2F'],
    ['/%3F?', '/%3F', '/?', ''],
    ['http://example.com/x?y', '/x', '/x', 'y'],
    ['http://example.com', '/', '/', ''],
    // The authority ends at `?`: the query is not taken for a path.
    ['http://example.com?next=/admin', '/', '/', 'next=/admin'],
    ['HTTPS://example.com:8443#x/y', '/', '/', ''],
    // A fragment is no part of the path (§3.3, §4.7) or the query.
    ['/p#frag', '/p', '/p', ''],
    ['/p#x?y', '/p', '/p', ''],
    ['/p??q', '/p', '/p', '?q'],
    ['*', '*', '*', ''],
  ])('%j → raw %j, PATH_INFO %j, QUERY_STRING %j', (target, rawPath, path, query) => {
    expect(parseTarget(target)).toEqual({ rawPath, path, query });
  });

  // Controls, spaces and raw non-ASCII characters (HTTP/2 hands them on; HTTP/1's parser refuses them).
  it.each(['/%zz', '/%C3', '/%', 'no-slash', 'a?u=http://x/y', '/caf\u00c3\u00a9', '/x\u00ff', '/a b', '/a?b\tc', '/\u007f'])('§3.3 %j is a 400', (target) => {
    expect(() => parseTarget(target)).toThrow(HttpError);
    try {
      parseTarget(target);
    } catch (error) {
      expect((error as HttpError).status).toBe(400);
    }
  });
});

describe('request headers (§5)', () => {
  const environOf = (raw: string[]) => {
    const environ: Record<string, unknown> = {};
    addRequestHeaders(environ, raw);
    return environ;
  };

  it('§5.1 names become HTTP_ keys', () => {
    expect(environOf(['X-Request-Id', 'abc', 'accept', '*/*'])).toEqual({ HTTP_X_REQUEST_ID: 'abc', HTTP_ACCEPT: '*/*' });
  });

  it('§5.2 drops names containing "_" so they cannot spoof their "-" twin', () => {
    expect(environOf(['X-Forwarded-For', '1.1.1.1', 'X_Forwarded_For', '6.6.6.6'])).toEqual({ HTTP_X_FORWARDED_FOR: '1.1.1.1' });
    expect(environOf(['X_Forwarded_For', '6.6.6.6'])).toEqual({});
  });

  it('§5.3 joins repeats with ", " and Cookie with "; "', () => {
    expect(environOf(['Accept', 'a', 'accept', 'b', 'Cookie', 'x=1', 'cookie', 'y=2'])).toEqual({
      HTTP_ACCEPT: 'a, b',
      HTTP_COOKIE: 'x=1; y=2',
    });
  });

  it('§5.3 keeps the first Content-Type and refuses a second Host with a 400 (RFC 9112 §3.2)', () => {
    expect(environOf(['Content-Type', 'text/plain', 'content-type', 'text/html'])).toEqual({ CONTENT_TYPE: 'text/plain' });
    expect(() => environOf(['Host', 'example.com', 'host', 'evil.example'])).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(/more than one Host/) }));
  });

  it("§5.3 keeps the first of a single-valued field and joins the rest, exactly as Node's req.headers has them", async () => {
    const names = ['authorization', 'proxy-authorization', 'user-agent', 'referer', 'from', 'max-forwards', 'if-modified-since', 'if-unmodified-since', 'location', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires', 'accept', 'cache-control', 'x-custom'];
    const raw = names.flatMap((name) => [name, `${name} one`, name, `${name} two`]);
    const server = createServer((req, res) => void res.end(JSON.stringify(req.headers)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const headers = names.flatMap((name) => [`${name}: ${name} one`, `${name}: ${name} two`]).join('\r\n');
      const response = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(`GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${headers}\r\n\r\n`));
        let text = '';
        socket.setEncoding('latin1').on('data', (part: string) => (text += part)).on('end', () => resolve(text)).on('error', reject);
      });
      const seen = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
      const environ = environOf(raw);
      expect(names.map((name) => environ[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`])).toEqual(names.map((name) => seen[name]));
      expect(environ.HTTP_AUTHORIZATION).toBe('authorization one');
      expect(environ.HTTP_ACCEPT).toBe('accept one, accept two');
    } finally {
      server.close();
    }
  });

  it.each([
    ['different', '5', '6'],
    ['identical', '5', '5'],
  ])('§5.3 refuses a second Content-Length with a 400, with %s values, as Node\'s parser does (RFC 9112 §6.3)', (_what, first, second) => {
    expect(() => environOf(['Content-Length', first, 'content-length', second])).toThrow(
      expect.objectContaining({ status: 400, message: expect.stringMatching(/more than one Content-Length/) }),
    );
  });

  it('§3.6 takes an empty Content-Type field for none: CONTENT_TYPE is never ""', () => {
    expect(environOf(['Content-Type', '', 'Accept', '*/*'])).toEqual({ HTTP_ACCEPT: '*/*' });
  });

  it('§5.3 §3.6 keeps the first Content-Type when it is empty: a later one is not the type, as Node\'s req.headers has it', () => {
    expect(environOf(['Content-Type', '', 'Content-Type', 'application/json'])).toEqual({});
    expect(environOf(['Content-Type', 'text/plain', 'Content-Type', ''])).toEqual({ CONTENT_TYPE: 'text/plain' });
  });

  it('§5.4 §3.6 Content-Type and Content-Length have CGI keys only', () => {
    const environ = environOf(['Content-Type', 'text/plain', 'Content-Length', '3']);
    expect(environ).toEqual({ CONTENT_TYPE: 'text/plain', CONTENT_LENGTH: '3' });
  });

  it('§5.5 drops HTTP/2 pseudo-headers; :authority becomes HTTP_HOST; a Host naming another host is a 400', () => {
    expect(environOf([':method', 'GET', ':authority', 'h2.example', ':path', '/'])).toEqual({ HTTP_HOST: 'h2.example' });
    expect(environOf([':authority', 'a.example', 'host', 'A.example:443'])).toEqual({ HTTP_HOST: 'A.example:443' });
    // The same host spelled otherwise, as mount's host entries take it.
    expect(environOf([':authority', 'a.example', 'host', 'a.example.'])).toEqual({ HTTP_HOST: 'a.example.' });
    expect(environOf([':authority', '[::1]:8080', 'host', '[0:0::1]:8080'])).toEqual({ HTTP_HOST: '[0:0::1]:8080' });
    for (const host of ['b.example', 'a.example:8443', 'x@a.example']) {
      expect(() => environOf([':authority', 'a.example', 'host', host])).toThrow(expect.objectContaining({ status: 400 }));
    }
  });

  it('requestHeaders inverts §5', () => {
    const environ = createEnviron({ headers: { 'x-a': 'b', 'content-type': 'text/plain' }, body: 'abc' });
    expect(requestHeaders(environ).sort()).toEqual(
      [['content-length', '3'], ['content-type', 'text/plain'], ['host', 'localhost'], ['x-a', 'b']].sort(),
    );
  });
});

describe('createEnviron (§2–§4)', () => {
  it('§2.1 §3 §4 gives every required key with the right type', () => {
    const environ = createEnviron({ method: 'POST', url: 'https://example.com:8443/a/b?c=d', body: 'xyz' });
    expect(Object.getPrototypeOf(environ)).toBe(Object.prototype);
    expect(environ).toMatchObject({
      REQUEST_METHOD: 'POST',
      SCRIPT_NAME: '',
      PATH_INFO: '/a/b',
      QUERY_STRING: 'c=d',
      SERVER_NAME: 'example.com',
      SERVER_PORT: '8443',
      SERVER_PROTOCOL: 'HTTP/1.1',
      CONTENT_LENGTH: '3',
      HTTP_HOST: 'example.com:8443',
      'ngi.version': [1, 0],
      'ngi.url_scheme': 'https',
      'ngi.multithread': false,
      'ngi.multiprocess': false,
      'ngi.run_once': false,
      'ngi.raw_path': '/a/b',
    });
    expect(environ['ngi.signal']).toBeInstanceOf(AbortSignal);
    expect(typeof environ['ngi.errors'].write).toBe('function');
  });

  it('frames a body as a client would: Content-Length for bytes, chunked for chunks to stream (not over HTTP/2), nothing over given framing', () => {
    const chunks = (): AsyncIterable<string> => (async function* () {
      yield 'a';
    })();
    const framing = (environ: Environ): unknown[] => [environ.CONTENT_LENGTH, environ.HTTP_TRANSFER_ENCODING];
    expect(framing(createEnviron({ method: 'POST', body: 'xyz' }))).toEqual(['3', undefined]);
    expect(framing(createEnviron({ method: 'POST', body: chunks() }))).toEqual([undefined, 'chunked']);
    expect(framing(createEnviron({ method: 'POST', body: ['a', 'b'] }))).toEqual([undefined, 'chunked']);
    expect(framing(createEnviron({ method: 'POST', body: chunks(), protocol: 'HTTP/2' }))).toEqual([undefined, undefined]);
    expect(framing(createEnviron({ method: 'POST', body: chunks(), headers: { 'content-length': '1' } }))).toEqual(['1', undefined]);
    expect(framing(createEnviron({ method: 'GET' }))).toEqual([undefined, undefined]);
  });

  it('§3.3 §3.5 a URL with spaces or non-ASCII text is sent percent-encoded, as a client would', () => {
    const environ = createEnviron({ url: '/café/a b?q=é f' });
    expect([environ.PATH_INFO, environ['ngi.raw_path'], environ.QUERY_STRING]).toEqual(['/café/a b', '/caf%C3%A9/a%20b', 'q=%C3%A9%20f']);
  });

  it.each([
    ['http://example.com?next=/admin', '/', 'next=/admin'],
    ['http://example.com#top', '/', ''],
    ['http://example.com', '/', ''],
  ])('§3.3 an absolute url %j without a path asks for "/", as a client sends it', (url, path, query) => {
    const environ = createEnviron({ url });
    expect([environ.PATH_INFO, environ['ngi.raw_path'], environ.QUERY_STRING, environ.HTTP_HOST]).toEqual([path, path, query, 'example.com']);
  });

  it('§3.3 §3.7 a path starting with "//" is a path, not a host', () => {
    const environ = createEnviron({ url: '//admin/x?y' });
    expect([environ.HTTP_HOST, environ.SERVER_NAME, environ.SERVER_PORT, environ.PATH_INFO, environ.QUERY_STRING]).toEqual([
      'localhost',
      'localhost',
      '80',
      '//admin/x',
      'y',
    ]);
  });

  it.each([
    [{ url: '/', headers: { host: 'example.com:8080' } }, 'example.com', '8080'],
    [{ url: 'https://a.example/', headers: { Host: 'b.example' } }, 'b.example', '443'],
    [{ url: '/', headers: { host: '[2001:db8::1]:9000' } }, '[2001:db8::1]', '9000'],
    [{ url: '/', headers: { host: '[2001:db8::1]' } }, '[2001:db8::1]', '80'],
    [{ url: '/', headers: { host: 'example.com:' } }, 'example.com', '80'],
  ])('§3.7 SERVER_NAME and SERVER_PORT come from a Host header given in %j, as a server takes them', (init, name, port) => {
    const environ = createEnviron(init);
    expect([environ.SERVER_NAME, environ.SERVER_PORT]).toEqual([name, port]);
  });

  it('§3.3 §3.7 a Host or an asterisk target a server would refuse is a 400, as from a server', () => {
    for (const init of [{ headers: { host: 'bad host' } }, { url: '*' }]) {
      expect(() => createEnviron(init)).toThrow(expect.objectContaining({ status: 400 }));
    }
    expect(createEnviron({ url: '*', method: 'OPTIONS' }).PATH_INFO).toBe('*');
  });

  it.each<[string, [string, string][]]>([
    ['two Content-Length fields', [['content-length', '5'], ['content-length', '5']]],
    ['a Content-Length list', [['content-length', '5, 5']]],
    ['a Content-Length that is not a number', [['content-length', 'five']]],
    ['a Content-Length with Transfer-Encoding', [['content-length', '5'], ['transfer-encoding', 'chunked']]],
    ['a header value with a control character', [['x-name', 'a\x01b']]],
    ['a header value with a CR LF', [['x-name', 'a\r\nb']]],
  ])('§5.3 §3.6 %s is a 400 from the test client, without calling the app, as from a server', async (_what, headers) => {
    expect(() => createEnviron({ method: 'POST', headers, body: 'hello' })).toThrow(expect.objectContaining({ status: 400 }));
    let called = false;
    const res = await request(() => ((called = true), []), { method: 'POST', headers, body: 'hello' });
    expect([res.status, called]).toEqual([400, false]);
  });

  it('§3.2 §3.4 scriptName moves the prefix out of PATH_INFO', () => {
    const environ = createEnviron({ url: '/app/x', scriptName: '/app' });
    expect([environ.SCRIPT_NAME, environ.PATH_INFO]).toEqual(['/app', '/x']);
  });

  it.each([
    ['/a/', '/a/b'],
    ['/', '/a'],
    ['a', 'a/b'],
  ])('§3.2 rejects the scriptName %j by its rule, not by the path', (scriptName, url) => {
    expect(() => createEnviron({ scriptName, url })).toThrow(
      new TypeError(`createEnviron: scriptName must be "" or start with "/" and not end with "/" (§3.2), got ${JSON.stringify(scriptName)}`),
    );
  });

  it.each([
    ['an object body', { method: 'POST', body: { a: 1 } }, 'createEnviron: body must be a string, a Uint8Array or an (async) iterable of chunks, got Object (for JSON, JSON.stringify it and set content-type)'],
    ['a number body', { body: 123 }, 'got number'],
    ['a null body', { body: null }, 'got null'],
    ['a number header value', { headers: { 'content-length': 3 } }, 'createEnviron: the value of header content-length must be a string, got number'],
    ['null headers', { headers: null }, 'createEnviron: headers must be a record, [name, value] pairs or a Headers, got null'],
    ['a number scriptName', { scriptName: 5 }, 'createEnviron: scriptName must be a string, got number'],
    ['an errors object without write', { errors: {} }, 'createEnviron: options.errors must be an error stream'],
  ])('refuses %s with a TypeError naming it', (_what, init, message) => {
    expect(() => createEnviron(init as never)).toThrow(message);
  });

  it('§3.7 an empty Host is valid, as a server takes it (RFC 9112 §3.2)', async () => {
    const environ = createEnviron({ url: 'http://example.com/x', headers: { host: '' } });
    expect([environ.HTTP_HOST, environ.SERVER_NAME, environ.SERVER_PORT]).toEqual(['', 'example.com', '80']);
    const app: Application = (e, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), [`[${e.HTTP_HOST}]`]);
    const res = await request(app, { headers: { host: '' } });
    expect([res.status, res.text(), res.errors]).toEqual([200, '[]', []]);
  });

  it('§5.1 strips the whitespace around a header value, as a server\'s parser does (RFC 9110 §5.5)', () => {
    const environ = createEnviron({ headers: [['x-foo', ' padded\t'], ['cookie', ' a=1 '], ['cookie', 'b=2 '], ['host', ' localhost ']] });
    expect([environ.HTTP_X_FOO, environ.HTTP_COOKIE, environ.HTTP_HOST, environ.SERVER_NAME]).toEqual(['padded', 'a=1; b=2', 'localhost', 'localhost']);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a method that is no token', { method: 'GET /' }, 'method must be a token'],
    ['a protocol of §3.8\'s three', { protocol: 'HTTP/3' }, 'protocol must be "HTTP/1.0", "HTTP/1.1" or "HTTP/2"'],
    ['an address that is no IP address', { remoteAddress: 'localhost' }, 'remoteAddress must be an IP address'],
    ['a header name that is no token', { headers: { 'bad name': 'x' } }, 'header name "bad name" is not a token'],
    ['a header value a client cannot send', { headers: { 'x-name': '€' } }, 'the value of header x-name must be Latin-1 (octets)'],
    ['an extra key without a dot', { extra: { FOO: 'x' } }, 'extra key "FOO" is no CGI, HTTP_* or extension key'],
    ['an ngi.* extra key the spec has not', { extra: { 'ngi.user': 'x' } }, 'extra key "ngi.user" is no CGI, HTTP_* or extension key'],
    ['extra that is no object', { extra: 'x' }, 'extra must be an object of extension keys, got string'],
    ['a signal that is no AbortSignal', { signal: new AbortController() }, 'signal must be an AbortSignal (a controller\'s .signal), got AbortController'],
    ['a streamed HTTP/1.0 body without a length', { method: 'POST', protocol: 'HTTP/1.0', body: ['a'] }, 'an HTTP/1.0 request body of unknown length needs a content-length header'],
  ])('refuses %s with a TypeError naming it, from createEnviron and the test client', async (_, init, message) => {
    expect(() => createEnviron(init)).toThrow(new RegExp(`^createEnviron: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const app: Application = (_e, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), ['ok']);
    await expect(request(app, init)).rejects.toThrow(TypeError);
  });

  it.each<[string, () => unknown, string, string]>([
    ['URLSearchParams', () => new URLSearchParams({ a: '1', b: 'x y' }), 'a=1&b=x+y', 'application/x-www-form-urlencoded;charset=UTF-8'],
    ['a Blob', () => new Blob(['blob'], { type: 'text/plain' }), 'blob', 'text/plain'],
    ['an ArrayBuffer', () => new TextEncoder().encode('bytes').buffer, 'bytes', 'none'],
    ['a DataView', () => new DataView(new TextEncoder().encode('view').buffer), 'view', 'none'],
  ])('takes %s as a body, as fetch sends it', async (_, body, text, type) => {
    const echo: Application = async (environ, startResponse) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of environ['ngi.input']) parts.push(chunk);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.CONTENT_TYPE ?? 'none'} ${environ.CONTENT_LENGTH} ${Buffer.concat(parts).toString()}`];
    };
    const res = await request(echo, { method: 'POST', body: body() as never });
    expect(res.text()).toBe(`${type} ${Buffer.byteLength(text)} ${text}`);
  });

  it('takes FormData as a body, multipart as fetch encodes it, and keeps a Content-Type given', async () => {
    const form = new FormData();
    form.set('name', 'ann');
    const echo: Application = async (environ, startResponse) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of environ['ngi.input']) parts.push(chunk);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${environ.CONTENT_TYPE}\n${Buffer.concat(parts).toString()}`];
    };
    const [type, ...body] = (await request(echo, { method: 'POST', body: form })).text().split('\n');
    const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(type!)![1]!;
    expect(body.join('\n')).toContain(`--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nann\r\n--${boundary}--`);
    const given = createEnviron({ method: 'POST', body: new URLSearchParams('a=1'), headers: { 'content-type': 'text/plain' } });
    expect(given.CONTENT_TYPE).toBe('text/plain');
  });

  it('the test client refuses a url given for its options, which would ask for "/", and rejects what createEnviron refuses', async () => {
    const app: Application = (_e, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain']]), ['ok']);
    await expect(request(app, '/users/1' as never)).rejects.toThrow('request: options must be an object of named options, got "/users/1"');
    await expect(request(app, { method: 'POST', body: { a: 1 } as never })).rejects.toThrow('for JSON, JSON.stringify it');
  });

  it('§4.3 ngi.input streams the body once, and lets go of ngi.signal as it reads', async () => {
    const signal = new AbortController().signal;
    const environ = createEnviron({ body: (async function* () { yield 'ab'; yield new Uint8Array([99]); })(), signal });
    const chunks: Uint8Array[] = [];
    for await (const chunk of environ['ngi.input']) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('abc');
    expect(getEventListeners(signal, 'abort')).toEqual([]);
    await expect(async () => {
      for await (const _ of environ['ngi.input']) void _;
    }).rejects.toThrow('§4.3');
  });
});

describe('requestUrl', () => {
  it.each([
    [{ url: 'http://example.com/a?b=c' }, 'http://example.com/a?b=c'],
    [{ url: 'https://example.com:443/' }, 'https://example.com/'],
    [{ url: '/a%2Fb%20c' }, 'http://localhost/a%2Fb%20c'],
    [{ url: '/app/x', scriptName: '/app' }, 'http://localhost/app/x'],
  ])('reconstructs %j as %s', (init, url) => {
    expect(requestUrl(createEnviron(init))).toBe(url);
  });

  it('§3.3 gives an asterisk-form request (OPTIONS *) no path, as RFC 9112 §3.3 reconstructs it', () => {
    const url = requestUrl(createEnviron({ method: 'OPTIONS', url: '*', headers: { host: 'example.com:8080' } }));
    expect(url).toBe('http://example.com:8080');
    expect(new URL(url).host).toBe('example.com:8080');
  });

  it('§3.4 keeps the client’s spelling of the path after a prefix a proxy removed (X-Forwarded-Prefix)', async () => {
    const url: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [requestUrl(environ)];
    };
    const init = { url: '/a%2Fb/%7Ex?q', headers: { 'x-forwarded-prefix': '/my%20app' } };
    expect((await request(proxyFix({ prefix: 1 })(url), init)).text()).toBe('http://localhost/my%20app/a%2Fb/%7Ex?q');
    const mounted = proxyFix({ prefix: 1 })(mount({ '/a': url }));
    expect((await request(mounted, init)).text()).toBe('http://localhost/my%20app/a%2Fb/%7Ex?q');
  });

  it('re-encodes a path a middleware rewrote', () => {
    const environ: Environ = { ...createEnviron({ url: '/x' }), PATH_INFO: '/a b?' };
    expect(requestUrl(environ, { query: false })).toBe('http://localhost/a%20b%3F');
  });
});

describe('shiftPath (§14.2)', () => {
  const base = createEnviron({ url: '/api/users' });
  it.each([
    ['/api', '/api', '/users'],
    ['/api/users', '/api/users', ''],
    ['/ap', undefined, undefined],
    ['/apix', undefined, undefined],
  ])('shifting %j', (prefix, scriptName, pathInfo) => {
    const shifted = shiftPath(base, prefix);
    expect(shifted?.SCRIPT_NAME).toBe(scriptName);
    expect(shifted?.PATH_INFO).toBe(pathInfo);
  });

  it('§13.2 works on a copy', () => {
    shiftPath(base, '/api');
    expect([base.SCRIPT_NAME, base.PATH_INFO]).toEqual(['', '/api/users']);
  });

  it('rejects a prefix that ends with "/"', () => {
    expect(() => shiftPath(base, '/api/')).toThrow(TypeError);
  });
});

describe('readBody', () => {
  const echo: Application = async (environ, startResponse) => {
    try {
      const body = await readBody(environ, { limit: 1000 });
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      return [body];
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      startResponse(`${status} Error`, [['content-type', 'text/plain']]);
      return [String(error)];
    }
  };

  it('reads the whole body', async () => {
    const bytes = randomBytes(999);
    const res = await request(echo, { method: 'POST', body: chunked(bytes, 100) });
    expect(sha(res.body)).toBe(sha(bytes));
  });

  it('answers 413 for a declared length past the limit without reading', async () => {
    let read = false;
    const body = (async function* () { read = true; yield new Uint8Array(10); })();
    const res = await request(echo, { method: 'POST', headers: { 'content-length': '5000' }, body });
    expect([res.status, read]).toEqual([413, false]);
  });

  it('answers 413 once a streamed body passes the limit', async () => {
    const res = await request(echo, { method: 'POST', body: chunked(randomBytes(5000), 300) });
    expect(res.status).toBe(413);
  });
});

async function* chunked(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('splitRawPath (§14.2)', () => {
  it.each([
    ['/api/x%2Fy', '/api', '/x/y', 4],
    ['/%61pi/x', '/api', '/x', 6],
    ['/api', '/api', '', 4],
    ['/apix/y', '/api', '/y', -1],
    ['/other/x', '/api', '/x', -1],
    ['/a%20b', '', '/a b', 0],
    ['/a%zz', '', '/a', -1],
  ])('%j with SCRIPT_NAME %j and PATH_INFO %j → %i', (raw, scriptName, pathInfo, expected) => {
    expect(splitRawPath(raw, scriptName, pathInfo)).toBe(expected);
  });
});

describe('canonicalPath (§3.3, §14.2)', () => {
  it.each([
    ['/admin/secret', undefined],
    ['/', undefined],
    ['/a/', undefined],
    ['/.well-known/x..y', undefined],
    ['/caf%C3%A9', undefined],
    ['/caf%c3%a9', undefined],
    ['/a%20b/%3F%23%25%5B%7C', undefined],
    ['*', undefined],
    ['', undefined],
    ['/%61dmin', '/admin'],
    ['/%7E%2D%5F%2E%40%3A%2B%3B%3D%21%24%26%27%28%29%2A%2C', "/~-_.@:+;=!$&'()*,"],
    ['/admin%2Fsecret', '/admin/secret'],
    ['/x/../admin', '/admin'],
    ['/./admin', '/admin'],
    ['//admin//x/', '/admin/x/'],
    ['/x/%2e%2E/admin', '/admin'],
    ['/x/..%2fadmin', '/admin'],
    ['/../..', '/'],
    ['/a/.', '/a/'],
    ['/x/../caf%c3%a9/a%20b', '/caf%C3%A9/a%20b'],
    ['/x/../{a}', '/%7Ba%7D'],
  ])('%j → %j', (raw, normal) => {
    expect(canonicalPath(raw)).toBe(normal);
  });

  it.each([
    ['/files/a%2Fb', undefined],
    ['/files/%61%2Fb', '/files/a%2Fb'],
    ['/files/a%2F..', undefined],
    ['/files/x/%2E%2E/a%2Fb', '/files/a%2Fb'],
  ])('keeping %%2F, %j → %j', (raw, normal) => {
    expect(canonicalPath(raw, true)).toBe(normal);
  });

  it('§3.3 throws an HttpError 400 for a path that cannot be decoded', () => {
    expect(() => canonicalPath('/x/../%zz')).toThrow(HttpError);
  });

  it('gives a path it leaves as it is, that decodes to the normal form of the one it was given: a redirect to it cannot loop', () => {
    const raw = fc
      .array(fc.constantFrom('/', '.', '..', 'a', '%2F', '%2f', '%2E', '%61', '%20', '%25', '%C3%A9', '%3F', '~', '{'), { maxLength: 12 })
      .map((parts) => '/' + parts.join(''));
    fc.assert(
      fc.property(raw, fc.boolean(), (path, keepSlash) => {
        const normal = canonicalPath(path, keepSlash);
        if (normal === undefined) return;
        expect(canonicalPath(normal, keepSlash)).toBeUndefined();
        if (!keepSlash) expect(parseTarget(normal).path).toBe(normalizePath(parseTarget(path).path));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isIpAddress', () => {
  // Node's own notion of an IP address, against which each is checked.
  const valid = ['127.0.0.1', '0.0.0.0', '::', '::1', '1::', '2001:db8::8a2e:370:7334', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '::ffff:127.0.0.1', '64:ff9b::192.0.2.33', '1:2:3:4:5:6:1.2.3.4', 'fe80::1%eth0', 'FE80::ABCD'];
  const invalid = ['', ':', ':::', 'deadbeef:', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '1::2::3', '::ffff:1.2.3.4:80', '1.2.3.4::', '12345::', 'g::1', '1.2.3', '256.0.0.1', '01.2.3.4.5', '01.2.3.4', '10.0.0.010', '::ffff:01.2.3.4', '::1%', '[::1]', 'localhost'];

  it.each(valid)('§3.9 takes %j, an IP address', (value) => {
    expect([isIpAddress(value), isIP(value.split('%')[0]!) !== 0]).toEqual([true, true]);
  });

  it.each(invalid)('§3.9 refuses %j, no IP address', (value) => {
    expect([isIpAddress(value), isIP(value) !== 0]).toEqual([false, false]);
  });
});

