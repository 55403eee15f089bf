import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  cascade,
  createEnviron,
  mount,
  readBody,
  request,
  runApp,
  stream,
  validator,
  type Application,
  type Chunk,
  type Environ,
  type ErrorStream,
  type HeaderList,
  type Middleware,
  type ResponseBody,
  type StartResponse,
  type TestRequest,
  type Write,
} from '../src/index.ts';
import { ValidationError } from '../src/validator.ts';

const TEXT: HeaderList = [['content-type', 'text/plain']];
const decoder = new TextDecoder();

/** An app that starts a 200 text response and returns `body`. */
const ok =
  (body: ResponseBody, headers: HeaderList = TEXT): Application =>
  (_environ, startResponse) => {
    startResponse('200 OK', headers);
    return body;
  };

/** A body that counts calls to its close(). */
function closable<T extends object>(body: T): T & { close(): void; closed: number } {
  const counted = Object.assign(body, { closed: 0, close: () => void counted.closed++ });
  return counted;
}

/** Expects the validator to have turned `app` into a 500 naming `rule` (a violation before the head, §11.1). */
async function expectRejected(app: Application, rule: string, init: TestRequest = {}): Promise<string> {
  const res = await request(app, init);
  const errors = res.errors.join('');
  expect(res.status).toBe(500);
  expect(errors).toContain(`ValidationError: ${rule}:`);
  return errors;
}

/** Expects a violation after the head: the response is abandoned (§11.2) and the log names `rule`. */
async function expectAbandoned(app: Application, rule: string, init: TestRequest = {}): Promise<void> {
  const res = await stream(app, init);
  await expect(drain(res.body)).rejects.toThrow('abandoned');
  expect(res.errors.join('')).toContain(`ValidationError: ${rule}:`);
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<string> {
  let text = '';
  for await (const part of body) text += decoder.decode(part);
  return text;
}

/** A stand-in server for calling a validated app directly. */
function fakeServer() {
  const calls: unknown[][] = [];
  const log: string[] = [];
  const pending = Promise.resolve();
  const write: Write = () => pending;
  const startResponse: StartResponse = (...args) => (calls.push(args), write);
  const environ = (init: Parameters<typeof createEnviron>[0] = {}): Environ =>
    createEnviron({ ...init, errors: { write: (m) => void log.push(m), flush() {} } });
  return { calls, log, pending, startResponse, environ };
}

function caught(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('the server side: environ (§2–§4)', () => {
  type Patch = (environ: Record<string, unknown>) => unknown;
  const cases: [rule: string, what: string, patch: Patch][] = [
    ['§2.1', 'an environ that is a class instance', (e) => Object.assign(new (class Env {})(), e)],
    ['§2.1', 'a Map', () => new Map()],
    ['§2.2', 'a CGI key holding a number', (e) => void (e.REMOTE_PORT = 8080)],
    ['§2.4', 'a header value above U+00FF', (e) => void (e.HTTP_X_NAME = 'Zoë ✓')],
    ['§3.1', 'a missing REQUEST_METHOD', (e) => void delete e.REQUEST_METHOD],
    ['§3.1', 'a method that is not a token', (e) => void (e.REQUEST_METHOD = 'GE T')],
    ['§3.2', 'SCRIPT_NAME "/"', (e) => void (e.SCRIPT_NAME = '/')],
    ['§3.2', 'a SCRIPT_NAME ending in "/"', (e) => void (e.SCRIPT_NAME = '/app/')],
    ['§3.2', 'a SCRIPT_NAME without a leading "/"', (e) => void (e.SCRIPT_NAME = 'app')],
    ['§3.3', 'a PATH_INFO without a leading "/"', (e) => void (e.PATH_INFO = 'index.html')],
    ['§3.3', 'a missing PATH_INFO', (e) => void delete e.PATH_INFO],
    ['§3.4', 'SCRIPT_NAME and PATH_INFO both empty', (e) => void (e.PATH_INFO = '')],
    ['§3.5', 'a missing QUERY_STRING', (e) => void delete e.QUERY_STRING],
    ['§3.6', 'HTTP_CONTENT_TYPE', (e) => void (e.HTTP_CONTENT_TYPE = 'text/plain')],
    ['§3.6', 'HTTP_CONTENT_LENGTH', (e) => void (e.HTTP_CONTENT_LENGTH = '3')],
    ['§3.6', 'a CONTENT_LENGTH that is not digits', (e) => void (e.CONTENT_LENGTH = '-1')],
    ['§3.6', 'an empty CONTENT_TYPE', (e) => void (e.CONTENT_TYPE = '')],
    ['§3.6', 'an empty CONTENT_LENGTH', (e) => void (e.CONTENT_LENGTH = '')],
    ['§3.7', 'an empty SERVER_NAME', (e) => void (e.SERVER_NAME = '')],
    ['§3.7', 'a SERVER_PORT that is not digits', (e) => void (e.SERVER_PORT = 'http')],
    ['§3.8', 'SERVER_PROTOCOL "HTTP/1.1.1"', (e) => void (e.SERVER_PROTOCOL = 'HTTP/1.1.1')],
    ['§3.8', 'SERVER_PROTOCOL "SPDY/3"', (e) => void (e.SERVER_PROTOCOL = 'SPDY/3')],
    ['§3.8', 'SERVER_PROTOCOL "HTTP/3"', (e) => void (e.SERVER_PROTOCOL = 'HTTP/3')],
    ['§3.8', 'SERVER_PROTOCOL "HTTP/2.0"', (e) => void (e.SERVER_PROTOCOL = 'HTTP/2.0')],
    ['§2.2', 'a dotless key that is not §3\'s (HTTPS)', (e) => void (e.HTTPS = 'on')],
    ['§2.2', 'a header "deleted" by setting it undefined', (e) => void (e.HTTP_HOST = undefined)],
    ['§2.2', 'a CGI key set to undefined', (e) => void (e.CONTENT_TYPE = undefined)],
    ['§5.1', 'a header key not upper-cased', (e) => void (e['HTTP_x-foo'] = 'a')],
    ['§5.1', 'a pseudo-header key', (e) => void (e['HTTP_:AUTHORITY'] = 'a')],
    ['§3.9', 'a REMOTE_PORT that is not digits', (e) => void (e.REMOTE_PORT = 'abc')],
    ['§3.9', 'a REMOTE_ADDR that is no IP address', (e) => void (e.REMOTE_ADDR = '[::1]')],
    ['§3.7', 'a SERVER_NAME that is not a host', (e) => void (e.SERVER_NAME = 'bad host/x')],
    ['§3.7', 'an HTTP_HOST that is not an authority', (e) => void (e.HTTP_HOST = 'a b/c@d')],
    ['§3.3', 'PATH_INFO "*" for GET', (e) => void (e.PATH_INFO = '*')],
    ['§4.1', 'ngi.version [1, 1]', (e) => void (e['ngi.version'] = [1, 1])],
    ['§4.2', 'ngi.url_scheme "ws"', (e) => void (e['ngi.url_scheme'] = 'ws')],
    ['§4.3', 'an ngi.input that is not async-iterable', (e) => void (e['ngi.input'] = [new Uint8Array(1)])],
    ['§4.4', 'an ngi.errors without flush()', (e) => void (e['ngi.errors'] = { write() {} })],
    ['§4.5', 'a string ngi.multithread', (e) => void (e['ngi.multithread'] = 'no')],
    ['§4.5', 'a missing ngi.run_once', (e) => void delete e['ngi.run_once']],
    ['§4.6', 'an ngi.signal that is not an AbortSignal', (e) => void (e['ngi.signal'] = { aborted: false })],
    ['§4.7', 'a missing ngi.raw_path', (e) => void delete e['ngi.raw_path']],
    ['§4.7', 'an ngi.raw_path with the query', (e) => void (e['ngi.raw_path'] = '/x?a=1')],
    ['§15.1', 'an ngi.* key the spec has not', (e) => void (e['ngi.user'] = 'ann')],
    ['§5.1', 'a header value with a CR LF', (e) => void (e.HTTP_X_NAME = 'a\r\nb')],
    ['§5.1', 'a CONTENT_TYPE with a NUL', (e) => void (e.CONTENT_TYPE = 'text/plain\0')],
  ];

  it.each(cases)('%s rejects %s before the app runs', (rule, _what, patch) => {
    const server = fakeServer();
    const base = server.environ() as unknown as Record<string, unknown>;
    const environ = (patch(base) ?? base) as Environ;
    let called = false;
    const app = validator(() => ((called = true), []));
    const error = caught(() => app(environ, server.startResponse));
    expect(error.rule).toBe(rule);
    expect(error.message.startsWith(`${rule}: `)).toBe(true);
    expect(called).toBe(false);
  });

  it.each([
    ['a null-prototype environ (§2.1)', (e: Environ) => Object.assign(Object.create(null) as object, e)],
    ['PATH_INFO "*" for OPTIONS (§3.3)', (e: Environ) => ({ ...e, REQUEST_METHOD: 'OPTIONS', PATH_INFO: '*' })],
    ['an IP literal SERVER_NAME and HTTP_HOST (§3.7)', (e: Environ) => ({ ...e, SERVER_NAME: '[::1]', HTTP_HOST: '[::1]:8080' })],
    ['a UTF-8 PATH_INFO (§2.4)', (e: Environ) => ({ ...e, PATH_INFO: '/café/✓' })],
    ['a mount with an empty PATH_INFO (§3.2 §3.4)', (e: Environ) => ({ ...e, SCRIPT_NAME: '/app', PATH_INFO: '' })],
    ['HTTP/2 (§3.8)', (e: Environ) => ({ ...e, SERVER_PROTOCOL: 'HTTP/2' })],
  ])('accepts %s', (_what, patch) => {
    const server = fakeServer();
    const body = validator(ok(['x']))(patch(server.environ()) as Environ, server.startResponse);
    expect([...(body as Iterable<Chunk>)]).toEqual(['x']);
  });

  it('§1.1 rejects a call with other than two arguments, and a startResponse that is not a function', () => {
    const server = fakeServer();
    const app = validator(ok([])) as (...args: unknown[]) => unknown;
    expect(caught(() => app(server.environ())).rule).toBe('§1.1');
    expect(caught(() => app(server.environ(), server.startResponse, {})).rule).toBe('§1.1');
    expect(caught(() => app(server.environ(), 'start')).message).toMatch(/^§1\.1: startResponse must be a function/);
  });

  it('§1.1 refuses to wrap something that is not an application', () => {
    expect(caught(() => validator('app' as unknown as Application)).rule).toBe('§1.1');
  });

  it('§3.9 §2.3 §15.2 accepts an environ without REMOTE_ADDR and with unknown extension keys', () => {
    const server = fakeServer();
    const { REMOTE_ADDR: _, ...environ } = { ...server.environ(), 'node.req': { socket: null }, 'custom.count': 3 };
    let seen: unknown;
    const body = validator((env, startResponse) => ((seen = env['node.req']), ok(['x'])(env, startResponse)))(environ as Environ, server.startResponse);
    expect([...(body as Iterable<Chunk>)]).toEqual(['x']);
    expect(seen).toEqual({ socket: null });
  });

  it('§1.2 §2.1 rejects the same environ object passed for a second request', () => {
    const server = fakeServer();
    const app = validator(ok([]));
    const environ = server.environ();
    app(environ, server.startResponse);
    expect(caught(() => app(environ, server.startResponse)).rule).toBe('§2.1');
  });

  it('§1.2 keeps concurrent requests to one validated app apart', async () => {
    const gates: (() => void)[] = [];
    const app = validator(async function* (environ, startResponse) {
      startResponse('200 OK', [...TEXT, ['content-length', String(environ.PATH_INFO.length * 2)]]);
      yield environ.PATH_INFO;
      await new Promise<void>((r) => gates.push(r));
      yield environ.PATH_INFO;
    });
    const [a, b] = await Promise.all([stream(app, { url: '/a' }), stream(app, { url: '/bb' })]);
    const texts = Promise.all([drain(a.body), drain(b.body)]);
    while (gates.length < 2) await new Promise((r) => setTimeout(r, 1));
    gates.forEach((open) => open());
    expect(await texts).toEqual(['/a/a', '/bb/bb']);
  });

  it('§13.2 the app gets a copy of environ; changes do not leak back', () => {
    const server = fakeServer();
    const environ = server.environ();
    validator((env, startResponse) => ((env.PATH_INFO = '/changed'), ok([])(env, startResponse)))(environ, server.startResponse);
    expect(environ.PATH_INFO).toBe('/');
  });
});

describe('the server side: ngi.input and ngi.errors (§4.3, §4.4)', () => {
  const reader: Application = async (environ, startResponse) => {
    const body = await readBody(environ);
    startResponse('200 OK', TEXT);
    return [body];
  };

  it('§4.3 passes the request body through unchanged', async () => {
    const res = await request(reader, { method: 'POST', body: (async function* () { yield 'ab'; yield 'cd'; })() });
    expect(res.text()).toBe('abcd');
  });

  it('§4.3 rejects a server input that yields something other than Uint8Array', async () => {
    const server = fakeServer();
    const environ = { ...server.environ(), 'ngi.input': (async function* () { yield 'text'; })() } as unknown as Environ;
    const result = validator(reader)(environ, server.startResponse) as Promise<ResponseBody>;
    await expect(result).rejects.toThrow(/^§4\.3: ngi\.input yielded string/);
  });

  it('§4.3 rejects an input that ends short of CONTENT_LENGTH', async () => {
    await expectRejected(reader, '§4.3', { method: 'POST', headers: { 'content-length': '10' }, body: 'abc' });
  });

  it('§4.3 rejects an input that yields more than CONTENT_LENGTH', async () => {
    await expectRejected(reader, '§4.3', { method: 'POST', headers: { 'content-length': '2' }, body: 'abc' });
  });

  it('§4.3 rejects an app that iterates ngi.input twice', async () => {
    const twice: Application = async (environ, startResponse) => {
      await readBody(environ);
      await readBody(environ);
      return ok([])(environ, startResponse);
    };
    await expectRejected(twice, '§4.3', { method: 'POST', body: 'x' });
  });

  it('§12.4 starts reading the server input only when the app does (Expect: 100-continue)', async () => {
    const server = fakeServer();
    let opened = 0;
    const input = { async *[Symbol.asyncIterator]() { opened++; yield new Uint8Array([104, 105]); } };
    const environ = { ...server.environ({ method: 'POST' }), CONTENT_LENGTH: '2', 'ngi.input': input };
    let readLater!: () => Promise<Uint8Array>;
    validator((env, startResponse) => ((readLater = () => readBody(env)), ok([])(env, startResponse)))(environ, server.startResponse);
    expect(opened).toBe(0);
    expect(decoder.decode(await readLater())).toBe('hi');
    expect(opened).toBe(1);
  });

  it('§4.4 rejects an app that writes a non-string to ngi.errors', async () => {
    const app: Application = (environ, startResponse) => {
      environ['ngi.errors'].write(new TextEncoder().encode('oops') as unknown as string);
      return ok([])(environ, startResponse);
    };
    await expectRejected(app, '§4.4');
  });

  it('§4.4 rejects an app that tries to close ngi.errors, naming the rule', async () => {
    const app: Application = (environ, startResponse) => {
      (environ['ngi.errors'] as ErrorStream & { close(): void }).close();
      return ok([])(environ, startResponse);
    };
    await expectRejected(app, '§4.4');
  });

  it('§4.4 passes string messages to the server stream', async () => {
    const app: Application = (environ, startResponse) => {
      environ['ngi.errors'].write('note\n');
      environ['ngi.errors'].flush();
      return ok(['x'])(environ, startResponse);
    };
    expect((await request(app)).errors).toContain('note\n');
  });
});

describe('startResponse (§6)', () => {
  it.each(['200', '200OK', '099 Low', '103 Early Hints', '200 Bad\r\nX: y', 'abc OK'])('§6.1 rejects status %j', async (status) => {
    await expectRejected((_e, startResponse) => (startResponse(status, TEXT), []), '§6.1');
  });

  it.each([
    ['headers that are not an array', { 'content-type': 'text/plain' }],
    ['a pair of three strings', [['content-type', 'text/plain', 'x']]],
    ['a name that is not a token', [['bad name', 'v']]],
    ['a value with CR LF', [['x-a', 'b\r\nx-c: d']]],
    ['a value with NUL', [['x-a', 'nul\0']]],
    ['a value with a control character', [['x-a', 'bell\x07']]],
    ['a non-string value', [['x-a', 1]]],
  ])('§6.2 rejects %s', async (_what, headers) => {
    await expectRejected((_e, startResponse) => (startResponse('200 OK', headers as HeaderList), []), '§6.2');
  });

  it('§6.2 rejects a call without headers', async () => {
    const start = (s: StartResponse) => (s as (status: string) => Write)('200 OK');
    await expectRejected((_e, startResponse) => (start(startResponse), []), '§6.2');
  });

  it('§6.3 rejects a hop-by-hop header', async () => {
    const errors = await expectRejected((_e, startResponse) => (startResponse('200 OK', [...TEXT, ['Connection', 'close']]), []), '§6.3');
    expect(errors).toContain('Connection');
  });

  it('§6.3 §10.2 rejects a Transfer-Encoding set by the app', async () => {
    await expectRejected((_e, startResponse) => (startResponse('200 OK', [...TEXT, ['transfer-encoding', 'chunked']]), []), '§6.3');
  });

  it('§6.3 rejects a "status" header', async () => {
    await expectRejected((_e, startResponse) => (startResponse('200 OK', [...TEXT, ['Status', '200']]), []), '§6.3');
  });

  it('§6.3 lets repeated headers through in order', async () => {
    const headers: HeaderList = [['set-cookie', 'a=1'], ...TEXT, ['set-cookie', 'b=2']];
    expect((await request(ok(['x'], headers))).headers).toEqual(headers);
  });

  it('§6.4 rejects a second call without an error', async () => {
    const app: Application = (_e, startResponse) => {
      startResponse('200 OK', TEXT);
      startResponse('201 Created', TEXT);
      return [];
    };
    await expectRejected(app, '§6.4');
  });

  it('§6.4 rejects a call with four arguments', async () => {
    const start = (s: StartResponse) => (s as (...args: unknown[]) => Write)('200 OK', TEXT, undefined, 'extra');
    await expectRejected((_e, startResponse) => (start(startResponse), []), '§6.4');
  });

  it('§6.4 §11.4 an error-replacing second call passes through unchanged', async () => {
    const app: Application = (_e, startResponse) => {
      startResponse('200 OK', TEXT);
      startResponse('503 Service Unavailable', TEXT, new Error('db down'));
      return ['sorry'];
    };
    const res = await request(app);
    expect([res.status, res.text(), res.errors]).toEqual([503, 'sorry', []]);
  });

  it('§6.4 warns when the error of a second call is not an Error', async () => {
    const app: Application = (_e, startResponse) => {
      startResponse('200 OK', TEXT);
      startResponse('500 Internal Server Error', TEXT, 'oops');
      return ['failed'];
    };
    const res = await request(app);
    expect([res.status, res.errors.join('')]).toEqual([500, expect.stringContaining('§6.4: warning: the error argument of a second startResponse call is not an Error')]);
  });

  it('§13.5 passes the error argument to the server unchanged', () => {
    const server = fakeServer();
    const error = new Error('db down');
    const app = validator((_e, startResponse) => {
      startResponse('200 OK', TEXT);
      startResponse('503 Service Unavailable', TEXT, error);
      return [];
    });
    app(server.environ(), server.startResponse);
    expect(server.calls.map((args) => args.length)).toEqual([2, 3]);
    expect(server.calls[1]![2]).toBe(error);
  });

  it('§6.4 after the head, the server still rethrows the error of a second call', async () => {
    const late = new Error('late failure');
    const app: Application = async function* (_e, startResponse) {
      startResponse('200 OK', TEXT);
      yield 'partial';
      startResponse('500 Oops', TEXT, late);
    };
    const res = await stream(app);
    await expect(drain(res.body)).rejects.toThrow('abandoned');
    expect(res.errors.join('')).toContain('late failure');
  });

  it('§6.4 rejects a server whose startResponse throws another error than the one it was given, after the head', async () => {
    const server = fakeServer();
    let sent = false;
    const startResponse: StartResponse = (...args) => {
      if (sent) throw new Error('headers already sent');
      sent = true;
      return server.startResponse(...args);
    };
    const app = validator(async function* (_e, startResponse) {
      await startResponse('200 OK', TEXT)('');
      yield 'partial';
      startResponse('500 Internal Server Error', TEXT, new Error('late'));
    });
    const run = async () => {
      for await (const _ of (await app(server.environ(), startResponse)) as AsyncIterable<Chunk>) void _;
    };
    await expect(run()).rejects.toThrow(/^§6\.4: the server's startResponse threw Error: headers already sent/);
  });

  it.each<[string, Application]>([
    [
      'a chunk was written',
      async (_e, startResponse) => {
        const write = startResponse('200 OK', TEXT);
        await write('hello');
        startResponse('500 Internal Server Error', TEXT, new Error('late'));
        return [];
      },
    ],
    [
      'write("") flushed the head (§8.3)',
      async (_e, startResponse) => {
        await startResponse('200 OK', TEXT)('');
        startResponse('500 Internal Server Error', TEXT, new Error('late'));
        return [];
      },
    ],
    [
      'a chunk was yielded',
      async function* (_e, startResponse) {
        startResponse('200 OK', TEXT);
        yield 'hello';
        startResponse('500 Internal Server Error', TEXT, new Error('late'));
      },
    ],
  ])('§6.4 rejects a server whose startResponse returns instead of throwing the error once %s', async (_what, app) => {
    const server = fakeServer();
    const run = async () => {
      const body = await validator(app)(server.environ(), server.startResponse);
      for await (const _ of body as AsyncIterable<Chunk>) void _;
    };
    await expect(run()).rejects.toThrow(/^§6\.4: the server's startResponse returned after the head was sent/);
  });

  it('§6.4 §12.1 does not blame the server for taking a second call after a write the departed client refused', async () => {
    const client = new AbortController();
    const left = new Error('client left');
    const environ = createEnviron({ signal: client.signal });
    client.abort(left);
    const refusing: StartResponse = () => () => Promise.reject(left);
    const app = validator(async (_e, startResponse) => {
      const write = startResponse('200 OK', TEXT);
      await write('hello').catch((error: unknown) => startResponse('500 Internal Server Error', TEXT, error));
      return [];
    });
    await expect(app(environ, refusing)).resolves.toBeDefined();
  });

  it('§6.5 rejects a non-empty chunk before startResponse', async () => {
    await expectRejected(() => ['too early'], '§6.5');
  });

  it('§6.5 §8.2 allows empty chunks before startResponse, and startResponse in the first step', async () => {
    const res = await request(async function* (_e, startResponse) {
      yield '';
      startResponse('200 OK', TEXT);
      yield 'late start';
    });
    expect([res.status, res.text(), res.errors]).toEqual([200, 'late start', []]);
  });

  it('§6.3 §11.1 a violation the app swallows still fails the request', async () => {
    const app: Application = (_e, startResponse) => {
      try {
        startResponse('200 OK', [['Connection', 'close']]);
      } catch {
        startResponse('200 OK', TEXT);
      }
      return ['hidden'];
    };
    await expectRejected(app, '§6.3');
  });
});

describe('write (§7)', () => {
  it('§7.1 returns the server write promise itself (backpressure)', () => {
    const server = fakeServer();
    let written: Promise<void> | undefined;
    validator((_e, startResponse) => ((written = startResponse('200 OK', TEXT)('x')), []))(server.environ(), server.startResponse);
    expect(written).toBe(server.pending);
  });

  it('§7.1 a write-based app passes through unchanged, with backpressure', async () => {
    let resolved = 0;
    const res = await stream(async (_e, startResponse) => {
      const write = startResponse('200 OK', [...TEXT, ['content-length', '2']]);
      await write('a');
      resolved++;
      await write(new TextEncoder().encode('b'));
      resolved++;
      return [];
    });
    const iterator = res.body[Symbol.asyncIterator]();
    expect(decoder.decode((await iterator.next()).value)).toBe('a');
    expect(resolved).toBe(0);
    expect(decoder.decode((await iterator.next()).value)).toBe('b');
    expect((await iterator.next()).done).toBe(true);
    expect([resolved, res.errors]).toEqual([2, []]);
  });

  it('§7.1 rejects a server whose startResponse returns no write function', () => {
    const server = fakeServer();
    const start = (() => undefined) as unknown as StartResponse;
    const app = validator((_e, startResponse) => (startResponse('200 OK', TEXT), []));
    expect(caught(() => app(server.environ(), start)).rule).toBe('§7.1');
  });

  it('§7.1 rejects a server whose write does not return a promise', () => {
    const server = fakeServer();
    const start = (() => () => undefined) as unknown as StartResponse;
    // The violation is the write's rejection, and fails the app when it returns.
    const app = validator((_e, startResponse) => (void startResponse('200 OK', TEXT)('x').catch(() => {}), []));
    expect(caught(() => app(server.environ(), start)).rule).toBe('§7.1');
  });

  it('§7.2 rejects write with bytes after the body was returned', async () => {
    const app: Application = async function* (_e, startResponse) {
      const write = startResponse('200 OK', TEXT);
      await write('x');
      yield 'body';
    };
    await expectRejected(app, '§7.2');
  });

  it('§7.2 a write refused for a broken rule is a rejected promise, never a throw', async () => {
    let late: Promise<string> | undefined;
    let bad: Promise<string> | undefined;
    const app: Application = (_e, startResponse) => {
      const write = startResponse('200 OK', TEXT);
      bad = write(42 as unknown as Chunk).then(() => 'written', (error: Error) => error.message);
      late = new Promise((resolve) => setTimeout(resolve, 5)).then(() => write('late')).then(() => 'written', (error: Error) => error.message);
      return (async function* () {
        await late;
      })();
    };
    await request(app).catch(() => {});
    expect(await bad).toMatch(/^§9\.2: write\(\) produced number/);
    expect(await late).toMatch(/^§9\.2|^§7\.2/);
  });

  it('§7.2 §8.3 allows write("") to flush the head from inside the body', async () => {
    const app: Application = async function* (_e, startResponse) {
      const write = startResponse('200 OK', [['content-type', 'text/event-stream']]);
      await write('');
      yield 'data: x\n\n';
    };
    const res = await request(app);
    expect([res.text(), res.errors]).toEqual(['data: x\n\n', []]);
  });
});

describe('the body (§9)', () => {
  it.each([
    ['a string', 'text'],
    ['bytes', new Uint8Array([1])],
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a plain object', {}],
  ])('§9.1 rejects %s as a body', async (_what, body) => {
    await expectRejected((_e, startResponse) => (startResponse('200 OK', TEXT), body as never), '§9.1');
  });

  it('§9.1 §13.4 closes a refused body that has close()', async () => {
    const body = closable({ not: 'iterable' });
    await expectRejected((_e, startResponse) => (startResponse('200 OK', TEXT), body as never), '§9.1');
    expect(body.closed).toBe(1);
  });

  it('§9.2 rejects a body chunk that is not bytes or a string', async () => {
    await expectRejected(ok([42 as never]), '§9.2');
  });

  it('§9.2 rejects a write() chunk that is not bytes or a string', async () => {
    await expectRejected((_e, startResponse) => (void startResponse('200 OK', TEXT)({} as never).catch(() => {}), []), '§9.2');
  });

  it('§9.2 §9.3 a sync array body passes through unchanged and stays sync', async () => {
    const app = ok(['hé', new Uint8Array([0x6c, 0x6c]), '', 'o'], [...TEXT, ['x-a', '1']]);
    const plain = await request(app, { validate: false });
    const checked = await request(app);
    expect([checked.status, checked.headers, [...checked.body], checked.errors]).toEqual([plain.status, plain.headers, [...plain.body], []]);

    const server = fakeServer();
    const body = validator(app)(server.environ(), server.startResponse);
    expect(Symbol.iterator in body && !(Symbol.asyncIterator in body)).toBe(true);
  });

  it('§9.3 an async generator body streams chunk by chunk', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const res = await stream(ok((async function* () { yield 'first'; await gate; yield 'second'; })()));
    const iterator = res.body[Symbol.asyncIterator]();
    expect(decoder.decode((await iterator.next()).value)).toBe('first');
    release();
    expect(decoder.decode((await iterator.next()).value)).toBe('second');
    expect((await iterator.next()).done).toBe(true);
    expect(res.errors).toEqual([]);
  });

  it('§9.3 rejects a server that iterates the body twice', () => {
    const server = fakeServer();
    const body = validator(ok(['x']))(server.environ(), server.startResponse) as Iterable<Chunk>;
    expect([...body]).toEqual(['x']);
    expect(caught(() => body[Symbol.iterator]()).rule).toBe('§9.3');
  });

  it('§9.4 close() is forwarded to the body exactly once through a real server', async () => {
    const body = closable(['a', 'b']);
    const res = await request(ok(body));
    expect([res.text(), body.closed]).toEqual(['ab', 1]);
  });

  it('§9.4 rejects a server that calls close() twice, forwarding only the first', () => {
    const server = fakeServer();
    const inner = closable(['x']);
    const body = validator(ok(inner))(server.environ(), server.startResponse) as Iterable<Chunk> & { close(): void };
    expect([...body]).toEqual(['x']);
    body.close();
    expect(caught(() => body.close()).rule).toBe('§9.4');
    expect(inner.closed).toBe(1);
  });

  it('§9.4 warns on ngi.errors when the server drops a body without calling close()', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const server = fakeServer();
    (() => {
      const body = validator(ok(['x']))(server.environ(), server.startResponse) as Iterable<Chunk>;
      for (const _ of body);
    })();
    for (let i = 0; i < 20 && !server.log.some((m) => m.startsWith('§9.4')); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(server.log.join('')).toMatch(/^§9\.4: warning: the response body of GET \/ was garbage-collected without close\(\)/m);
  });

  it('§9.5 §12.1 a client abort forwards return() to the body and closes it once', async () => {
    let returned = false;
    const body = closable(
      (function* () {
        try {
          yield 'a';
          yield 'b';
        } finally {
          returned = true;
        }
      })(),
    );
    const controller = new AbortController();
    const res = await stream(ok(body), { signal: controller.signal });
    const iterator = res.body[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort(new Error('gone'));
    await iterator.next().catch(() => {});
    await new Promise((r) => setTimeout(r, 10));
    expect([returned, body.closed]).toEqual([true, 1]);
  });

  it('§9.5 forwards return() on an early stop by the server', async () => {
    let returned = false;
    const server = fakeServer();
    const inner = (async function* () {
      try {
        yield 'a';
        yield 'b';
      } finally {
        returned = true;
      }
    })();
    const body = validator(ok(inner))(server.environ(), server.startResponse) as AsyncIterable<Chunk> & { close(): void };
    for await (const _ of body) break;
    body.close();
    expect(returned).toBe(true);
  });

  it('§9.5 rejects a server that closes mid-iteration without calling return(), still closing the body', () => {
    const server = fakeServer();
    const inner = closable(['a', 'b'][Symbol.iterator]());
    const body = validator(ok(inner))(server.environ(), server.startResponse) as Iterable<Chunk> & { close(): void };
    body[Symbol.iterator]().next();
    expect(caught(() => body.close()).rule).toBe('§9.5');
    expect(inner.closed).toBe(1);
  });

  it('§9.6 rejects a server that iterates the body after close()', () => {
    const server = fakeServer();
    const body = validator(ok(['a', 'b']))(server.environ(), server.startResponse) as Iterable<Chunk> & { close(): void };
    const iterator = body[Symbol.iterator]();
    iterator.next();
    iterator.return!();
    body.close();
    expect(caught(() => iterator.next()).rule).toBe('§9.6');
    expect(caught(() => body[Symbol.iterator]()).rule).toBe('§9.6');
  });

  it('§9.6 the validator does not touch the body before the app returns it', async () => {
    const order: string[] = [];
    const app: Application = async (_e, startResponse) => {
      startResponse('200 OK', TEXT);
      const body = (function* () {
        order.push('iterated');
        yield 'x';
      })();
      await Promise.resolve();
      order.push('returned');
      return body;
    };
    await request(app);
    expect(order).toEqual(['returned', 'iterated']);
  });
});

describe('Content-Length and bodiless responses (§10)', () => {
  const sized = (length: number, body: Chunk[]): Application => ok(body, [...TEXT, ['content-length', String(length)]]);

  it('§10.1 rejects more bytes than Content-Length, counting write() and body together', async () => {
    const app: Application = async (_e, startResponse) => {
      const write = startResponse('200 OK', [...TEXT, ['content-length', '5']]);
      await write('abc');
      return ['def'];
    };
    await expectAbandoned(app, '§10.1');
  });

  it('§10.1 rejects a body shorter than its Content-Length', async () => {
    await expectAbandoned(sized(10, ['abc']), '§10.1');
  });

  it('§10.1 counts strings as UTF-8 bytes', async () => {
    const res = await request(sized(5, ['é', '✓']));
    expect([res.text(), res.errors]).toEqual(['é✓', []]);
  });

  it('§10.1 §10.3 HEAD keeps its Content-Length without a body', async () => {
    const res = await request(sized(5, ['hello']), { method: 'HEAD' });
    expect([res.status, res.header('content-length'), res.body.byteLength, res.errors]).toEqual([200, '5', 0, []]);
  });

  it('§10.3 lets a HEAD response carry the GET body, which the server drops', async () => {
    const app: Application = function* (_e, startResponse) {
      startResponse('200 OK', [...TEXT, ['content-length', '5']]);
      yield 'hello';
    };
    const res = await request(app, { method: 'HEAD' });
    expect([res.status, res.body.length, res.header('content-length')]).toEqual([200, 0, '5']);
  });

  it('§10.3 rejects bytes written for a 204 even in response to HEAD', async () => {
    const app: Application = (_e, startResponse) => (void startResponse('204 No Content', [])('x').catch(() => {}), []);
    await expectRejected(app, '§10.3', { method: 'HEAD' });
  });

  it.each(['204 No Content', '304 Not Modified'])('§10.3 rejects chunks returned in an array for %s, which the server never takes', async (status) => {
    const app: Application = (_e, startResponse) => (startResponse(status, []), ['secret']);
    await expectRejected(app, '§10.3');
    const empty: Application = (_e, startResponse) => (startResponse(status, []), ['', new Uint8Array(0)]);
    expect((await request(empty)).errors).toEqual([]);
  });

  it.each(['204 No Content', '304 Not Modified'])('§10.3 rejects a body chunk for %s', async (status) => {
    const app: Application = function* (_e, startResponse) {
      startResponse(status, []);
      yield 'body';
    };
    await expectRejected(app, '§10.3');
  });

  it.each([
    ['204 No Content', ['content-length', '0']],
    ['204 No Content', ['content-type', 'text/plain']],
    ['304 Not Modified', ['content-type', 'text/plain']],
  ])('§10.4 rejects %s with %j', async (status, header) => {
    await expectRejected((_e, startResponse) => (startResponse(status, [header as [string, string]]), []), '§10.4');
  });

  it('§10.4 only warns when Content-Type is missing', async () => {
    const res = await request(ok(['x'], []));
    expect([res.status, res.text()]).toEqual([200, 'x']);
    expect(res.errors.join('')).toContain('§10.4: warning: the 200 response has no Content-Type');
  });

  it('§10.4 accepts 304 with a Content-Length and no body', async () => {
    const res = await request((_e, startResponse) => (startResponse('304 Not Modified', [['content-length', '123']]), []));
    expect([res.status, res.errors]).toEqual([304, []]);
  });
});

describe('errors (§11)', () => {
  it('§11.1 a violation before the head becomes the server 500', async () => {
    const errors = await expectRejected((_e, startResponse) => (startResponse('200 OK', [['Upgrade', 'h2c']]), []), '§6.3');
    expect(errors).toContain('§11.1');
  });

  it('§11.2 a violation after the head drops the connection', async () => {
    await expectAbandoned(ok(['ok', 7 as never]), '§9.2');
  });

  it('§11.3 rejects a body that ends without startResponse', async () => {
    await expectRejected(() => [], '§11.3');
  });
});

describe('the header list stays as passed (§6.6)', () => {
  it.each([
    ['a header added', (headers: HeaderList) => headers.push(['x-late', 'a\r\nb'])],
    ['a Content-Length added', (headers: HeaderList) => headers.push(['content-length', '100'])],
    ['a pair changed', (headers: HeaderList) => (headers[0]![1] = 'text/html')],
  ])('§6.6 rejects %s after startResponse', async (_, change) => {
    const app: Application = (_e, startResponse) => {
      const headers: HeaderList = [['content-type', 'text/plain']];
      startResponse('200 OK', headers);
      change(headers);
      return ['x'];
    };
    await expectRejected(app, '§6.6');
  });

  it('§6.6 accepts a middleware that adds to the list before passing it on (a WSGI habit)', async () => {
    const powered: Middleware = (app) => (environ, startResponse) =>
      app(environ, (status, headers, ...error) => {
        headers.push(['x-powered-by', 'ngi']);
        return startResponse(status, headers, ...error);
      });
    const res = await request(validator(powered(validator(ok(['x'])))));
    expect([res.status, res.header('x-powered-by'), res.errors]).toEqual([200, 'ngi', []]);
  });
});

describe('middleware yields at least once per inner chunk (§13.3)', () => {
  const inner = (): Application => validator(ok(['a', '', 'b', 'c']));

  /** Wraps the inner body with `transform`, forwarding close() (§13.4). */
  const wrapBody =
    (transform: (body: Iterable<Chunk>) => Iterable<Chunk>): Middleware =>
    (app) =>
    async (environ, startResponse) => {
      const body = (await app(environ, startResponse)) as Iterable<Chunk> & { close?(): void };
      return Object.assign(transform(body), { close: () => body.close?.() });
    };

  it('§13.3 rejects middleware that accumulates the inner body', async () => {
    const accumulate = wrapBody(function* (body) {
      const parts: Chunk[] = [];
      for (const chunk of body) parts.push(chunk);
      yield parts.join('');
    });
    const errors = await expectRejected(validator(accumulate(inner())), '§13.3', { validate: false });
    expect(errors).toContain('took 4 chunks');
  });

  it('§13.3 rejects middleware that reads the inner body to its end and closes it before it yields (an ETag over the whole body)', async () => {
    const etag: Middleware = (app) => async (environ, startResponse) => {
      const body = (await app(environ, startResponse)) as Iterable<Chunk> & { close(): void };
      const parts: Chunk[] = [];
      for (const chunk of body) parts.push(chunk);
      body.close();
      return [parts.join('')];
    };
    await expectRejected(validator(etag(inner())), '§13.3', { validate: false });
  });

  it('§13.3 rejects middleware that drops empty inner chunks', async () => {
    const dropEmpty = wrapBody(function* (body) {
      for (const chunk of body) if (chunk.length > 0) yield chunk;
    });
    await expectAbandoned(validator(dropEmpty(inner())), '§13.3', { validate: false });
  });

  it('§13.3 accepts middleware that yields once per inner chunk, sync or async', async () => {
    const upper = wrapBody(function* (body) {
      for (const chunk of body) yield typeof chunk === 'string' ? chunk.toUpperCase() : chunk;
    });
    const res = await request(validator(upper(inner())), { validate: false });
    expect([res.text(), res.errors]).toEqual(['ABC', []]);

    const passAsync: Middleware = (app) => async (environ, startResponse) => {
      const body = (await app(environ, startResponse)) as Iterable<Chunk> & { close(): void };
      return Object.assign((async function* () { yield* body; })(), { close: () => body.close() });
    };
    expect((await request(passAsync(inner()))).text()).toBe('abc');
  });

  it('§13.3 counts a write() per inner chunk as a yield', async () => {
    const pipe: Middleware = (app) => async (environ, startResponse) => {
      let write!: Write;
      const body = (await app(environ, (status, headers) => (write = startResponse(status, headers)))) as Iterable<Chunk> & { close(): void };
      for (const chunk of body) await write(chunk);
      body.close();
      return [];
    };
    const res = await request(pipe(inner()));
    expect([res.text(), res.errors]).toEqual(['abc', []]);
  });

  it('§13.3 nests: each validator checks the layer just inside it', async () => {
    const upper = wrapBody(function* (body) {
      for (const chunk of body) yield String(chunk).toUpperCase();
    });
    const res = await request(validator(upper(validator(upper(inner())))));
    expect(res.text()).toBe('ABC');
  });
});

describe('middleware closes the inner bodies it drops (§13.4)', () => {
  /** Calls the inner app, discards its body without close(), and answers on its own. */
  const dropper: Middleware = (app) => async (environ, startResponse) => {
    await app(environ, () => async () => {});
    startResponse('200 OK', TEXT);
    return ['replaced'];
  };
  const pass: Middleware = (app) => (environ, startResponse) => app({ ...environ }, startResponse);
  /** Wraps the inner body in a generator whose close() runs `close` (§13.4 asks it to forward). */
  const wrap =
    (close: (body: { close(): void }) => void | Promise<void>): Middleware =>
    (app) =>
    async (environ, startResponse) => {
      const body = (await app(environ, startResponse)) as Iterable<Chunk> & { close(): void };
      return Object.assign((function* () { yield* body; })(), { close: () => close(body) });
    };

  it.each([
    ['the test client’s validator', {}],
    ['the outermost validator itself', { validate: false }],
  ])('§13.4 %s reports an inner body discarded without close(), and leaves it unclosed', async (_who, init) => {
    const body = closable(['inner']);
    const res = await request(validator(dropper(validator(ok(body)))), init);
    expect([res.status, res.text(), body.closed]).toEqual([200, 'replaced', 0]);
    expect(res.errors.join('')).toMatch(/ValidationError: §13\.4: the exchange for GET \/ ended, but close\(\) was never called on an inner response body \(200 OK\)/);
  });

  it('§13.4 reports a drop several layers in, once', async () => {
    const body = closable(['inner']);
    const res = await request(validator(pass(validator(dropper(validator(ok(body)))))));
    expect([res.text(), body.closed]).toEqual(['replaced', 0]);
    expect(res.errors.join('').match(/§13\.4:/g)).toHaveLength(1);
  });

  it('§13.4 the server’s close() of the outermost body throws it, after forwarding', async () => {
    const server = fakeServer();
    const inner = closable(['inner']);
    const body = (await validator(dropper(validator(ok(inner))))(server.environ(), server.startResponse)) as Iterable<Chunk> & { close(): void };
    expect([...body]).toEqual(['replaced']);
    expect(caught(() => body.close()).rule).toBe('§13.4');
    expect(inner.closed).toBe(0);
  });

  it('§13.4 checks once an async close() has settled: a late forward passes, a missing one rejects', async () => {
    const server = fakeServer();
    const run = async (middleware: Middleware) => {
      const inner = closable(['a']);
      const app = validator(middleware(validator(ok(inner))));
      const body = (await app(server.environ(), server.startResponse)) as Iterable<Chunk> & { close(): Promise<void> };
      expect([...body]).toEqual(['a']);
      return { closing: body.close(), inner };
    };
    const late = await run(wrap(async (body) => (await Promise.resolve(), body.close())));
    await late.closing;
    expect(late.inner.closed).toBe(1);

    const forgotten = await run(wrap(async () => {}));
    await expect(forgotten.closing).rejects.toThrow(/^§13\.4: /);
    expect(forgotten.inner.closed).toBe(0);
  });

  it.each([
    ['passes the body on', pass],
    ['wraps it, forwarding close()', wrap((body) => body.close())],
    [
      'replaces it and closes it',
      ((app) => async (environ, startResponse) => {
        const body = (await app(environ, () => async () => {})) as { close(): void };
        body.close();
        startResponse('200 OK', TEXT);
        return ['replaced'];
      }) satisfies Middleware,
    ],
  ])('§13.4 reports nothing for middleware that %s', async (_what, middleware) => {
    const body = closable(['inner']);
    const res = await request(validator(middleware(validator(ok(body)))));
    expect([res.errors, body.closed]).toEqual([[], 1]);
  });

  it('§13.4 §14.1 reports nothing for cascade() and mount(), which close the bodies they decline', async () => {
    const declined = closable(['no']);
    const probed = closable(
      (async function* (): AsyncGenerator<Chunk> {
        yield '';
      })(),
    );
    const won = closable(['yes']);
    const app = mount({
      '/a': cascade([
        validator((_e, startResponse) => (startResponse('404 Not Found', TEXT), declined)),
        validator((_e, startResponse) => (startResponse('405 Method Not Allowed', TEXT), probed)),
        validator(ok(won)),
      ]),
    });
    const res = await request(validator(app), { url: '/a/x' });
    expect([res.text(), res.errors]).toEqual(['yes', []]);
    expect([declined.closed, probed.closed, won.closed]).toEqual([1, 1, 1]);
  });
});

describe('a validated app under runApp', () => {
  it('§1.1 §9.4 a sync app stays sync and its body closes once', async () => {
    const server = fakeServer();
    const result = validator(ok(['x']))(server.environ(), server.startResponse);
    expect(result instanceof Promise).toBe(false);
    const body = closable(['x']);
    const sink = { head() {}, write() {}, end() {}, destroy() {} };
    await runApp(validator(ok(body)), server.environ(), sink);
    expect([body.closed, server.log]).toEqual([1, []]);
  });
});
