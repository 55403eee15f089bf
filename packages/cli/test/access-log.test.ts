import { HttpError, request, type Application } from '@ngi/core';
import { describe, expect, it } from 'vitest';
import { accessLog, compileFormat } from '../src/index.ts';
import { escape, pipeSized } from '../src/_log-line.ts';

const hello: Application = (_environ, startResponse) => {
  startResponse('201 Created', [['content-type', 'text/plain'], ['x-id', '7']]);
  return (function* () {
    yield 'héllo';
    yield new Uint8Array(3);
  })();
};

async function logged(app: Application, init: Parameters<typeof request>[1], format?: string): Promise<string> {
  const lines: string[] = [];
  await request(accessLog({ write: (line) => lines.push(line), ...(format ? { format } : {}) })(app), init);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('accessLog', () => {
  it('writes one combined-format line when the body is closed (§9.4), counting body bytes', async () => {
    const line = await logged(hello, { url: '/p?q=1', headers: { 'user-agent': 'ua', referer: 'http://r/' } });
    expect(line).toMatch(/^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/p\?q=1 HTTP\/1\.1" 201 9 "http:\/\/r\/" "ua"\n$/);
  });

  it('%(u)s is the user of Basic authentication, as gunicorn logs it, and - otherwise', async () => {
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    expect(await logged(hello, { url: '/', headers: basic('alice:s3cr:et') })).toMatch(/^127\.0\.0\.1 - alice \[/);
    expect(await logged(hello, { url: '/', headers: basic('zoë "x":pw') }, '%(u)s')).toBe('zo\\xeb \\"x\\"\n');
    expect(await logged(hello, { url: '/', headers: { authorization: 'basic  Ym9iOnB3 ' } }, '%(u)s')).toBe('bob\n');
    for (const authorization of ['Bearer abc.def', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`]) {
      expect(await logged(hello, { url: '/', headers: { authorization } }, '%(u)s')).toBe('-\n');
    }
  });

  it('logs the 500 the server sends when the application throws before the head (§11.1)', async () => {
    const line = await logged(() => {
      throw new Error('boom');
    }, { url: '/' }, 'common');
    expect(line).toMatch(/"GET \/ HTTP\/1\.1" 500 -\n$/);
    const failing: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (function* () {
        throw new HttpError(413, 'too big');
      })();
    };
    expect(await logged(failing, { url: '/' }, '%(s)s')).toBe('413\n');
  });

  it('logs the 500 the server sends for a body that is not one (§9.1), which it gets unchanged', async () => {
    for (const body of ['a string', null, 42, new Uint8Array(2), { close() {} }]) {
      let closed = 0;
      const returned = body !== null && typeof body === 'object' && !(body instanceof Uint8Array) ? { close: () => void closed++ } : body;
      const sync: Application = (_environ, startResponse) => {
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return returned as never;
      };
      const async: Application = async (environ, startResponse) => sync(environ, startResponse);
      for (const app of [sync, async]) {
        const lines: string[] = [];
        const res = await request(accessLog({ write: (line) => lines.push(line), format: '%(s)s %(b)s' })(app), { url: '/' });
        expect(res.status).toBe(500);
        expect(lines).toEqual(['500 -\n']);
        expect(res.errors.join('')).toMatch(/§9.1: an application (must )?returns? an Iterable/);
      }
      expect(closed).toBe(returned === body ? 0 : 2);
    }
  });

  it('logs the status sent when write(\'\') sent the head (§8.3) before the body failed', async () => {
    const app: Application = async (_environ, startResponse) => {
      await startResponse('200 OK', [['content-type', 'text/plain']])('');
      return (function* () {
        throw new Error('after the head');
      })();
    };
    const lines: string[] = [];
    await expect(request(accessLog({ write: (line) => lines.push(line), format: '%(s)s %(b)s' })(app), { url: '/' })).rejects.toThrow('after the head');
    expect(lines).toEqual(['200 -\n']);
  });

  it('counts what write() sends (§7), and no body bytes for HEAD (§10.3)', async () => {
    const writer: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      await write('abc');
      return ['de'];
    };
    expect(await logged(writer, { url: '/' }, '%(b)s %(B)s')).toBe('5 5\n');
    expect(await logged(hello, { method: 'HEAD', url: '/' }, '%(m)s %(b)s %(B)s')).toBe('HEAD - 0\n');
  });

  it('supports gunicorn tokens, request and response headers, and escapes what a client sent', async () => {
    const line = await logged(hello, { url: '/a%20b', headers: { 'x-trace': 'a"b\\c\xe9' } }, '%(m)s %(U)s %(q)s %(H)s %({x-trace}i)s %({x-id}o)s %(p)s %(M)s');
    expect(line).toMatch(/^GET \/a%20b  HTTP\/1\.1 a\\"b\\\\c\\xe9 7 <\d+> \d+\n$/);
  });

  it('%({content-type}i)s and %({content-length}i)s read the CGI keys those headers are kept in (§5)', async () => {
    const line = await logged(hello, { method: 'POST', url: '/', headers: { 'content-type': 'text/plain' }, body: 'abc' }, '%({content-type}i)s %({Content-Length}i)s');
    expect(line).toBe('text/plain 3\n');
  });

  it('a sync body stays sync, and a body is passed on chunk by chunk (§13.3)', async () => {
    const res = await request(accessLog({ write: () => {} })(hello), { url: '/' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual(new Uint8Array([...new TextEncoder().encode('héllo'), 0, 0, 0]));
  });

  it('refuses options given as morgan takes them, a stream for write, and a format that is not a string, before any request', () => {
    expect(() => accessLog('common' as never)).toThrow('accessLog: options must be an object: accessLog({ format: "common" })');
    expect(() => accessLog({ write: process.stdout as never })).toThrow('accessLog: options.write must be a function (line) => void');
    expect(() => accessLog({ format: 5 as never })).toThrow('access log format: must be a string or a format\'s name, got number');
    expect(() => accessLog({ fromat: 'common' } as never)).toThrow('accessLog: unknown option "fromat" (did you mean "format"?)');
  });

  it('refuses an unknown token, Object.prototype\'s names included', () => {
    for (const token of ['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(() => compileFormat(`%(${token})s`)).toThrow(`access log format: unknown token %(${token})s`);
    }
  });

  it.each(['toString', '__proto__', 'combind'])('refuses %j, neither a named format nor one with a token', (format) => {
    expect(() => compileFormat(format)).toThrow(`access log format: ${JSON.stringify(format)} is not one of combined, common and has no token like %(h)s`);
  });

  it.each([['%(h)d', '%(h)d'], ['%(h)', '%(h)'], ['%(x-y)s %(h)s', '%(x-y)s'], ['%({bad name)s', '%({bad name)s']])(
    'refuses %j, a token it cannot read, instead of logging it as text',
    (format, token) => {
      expect(() => compileFormat(format)).toThrow(`access log format: cannot read ${JSON.stringify(token)} (tokens look like %(h)s)`);
    },
  );
});

describe('access-log lines on the wire', () => {
  it('escape writes a character past U+00FF by its UTF-8 bytes, each \\xHH, and a header octet as it is', () => {
    expect([escape('a€b'), escape('😀'), escape('caf\xe9')]).toEqual(['a\\xe2\\x82\\xacb', '\\xf0\\x9f\\x98\\x80', 'caf\\xe9']);
  });

  it('pipeSized cuts a batch into whole lines of at most 4096 bytes, so workers sharing a pipe never tear one', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `${'x'.repeat(100 + i * 37)}\n`);
    const long = `${'y'.repeat(9000)}\n`;
    const pieces = pipeSized([...lines.slice(0, 20), long, ...lines.slice(20)].join(''));
    expect(pieces.join('')).toBe([...lines.slice(0, 20), long, ...lines.slice(20)].join(''));
    for (const piece of pieces) {
      expect(piece.endsWith('\n')).toBe(true);
      expect(piece.length <= 4096 || piece === long).toBe(true);
    }
    expect(pipeSized('short\n')).toEqual(['short\n']);
    // Bytes, not characters: a format's own non-ASCII text counts as what it weighs.
    const wide = `${'é'.repeat(1500)}\n`;
    expect(pipeSized(wide.repeat(3)).map((piece) => Buffer.byteLength(piece))).toEqual([3001, 3001, 3001]);
  });
});
