import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, createEnviron, mount, request, stream, type Application, type Chunk, type Environ, type HeaderList } from '@ngi/core';
import { baseUrlSymbol, environSymbol, fromNodeListener, prototypesOf, type NgiIncomingMessage } from '../src/from-node-listener.ts';
import { nodeEnviron } from '../src/node-environ.ts';
import { toNodeListener } from '../src/to-node-listener.ts';

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const tick = (ms = 5): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Runs `listener` for one request and returns what it saw of `req` (and the response). */
async function seen(init: Parameters<typeof request>[1], inspect: (req: NgiIncomingMessage) => unknown) {
  let view: unknown;
  const app = fromNodeListener((req, res) => {
    view = inspect(req as NgiIncomingMessage);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  const res = await request(app, init);
  expect(res.status).toBe(200);
  return view;
}

/** An ngi.input body in `size`-byte chunks that counts how many the app pulled. */
function countedBody(bytes: Uint8Array, size: number): { body: AsyncIterable<Uint8Array>; pulled(): number } {
  let pulled = 0;
  return {
    body: {
      async *[Symbol.asyncIterator]() {
        for (let i = 0; i < bytes.byteLength; i += size) {
          pulled++;
          yield bytes.subarray(i, i + size);
        }
      },
    },
    pulled: () => pulled,
  };
}

/** Calls the application directly, with a startResponse that records the head. */
async function call(app: Application, init: Parameters<typeof createEnviron>[0] = {}) {
  const heads: [string, HeaderList][] = [];
  const writes: Chunk[] = [];
  const environ = createEnviron({ errors: { write() {}, flush() {} }, ...init });
  const body = await app(environ, (status, headers) => {
    heads.push([status, headers]);
    return async (chunk) => void writes.push(chunk);
  });
  return { body, heads, writes, environ };
}

describe('fromNodeListener: the request', () => {
  it('§14.2 a backslash in the path reaches the listener encoded: a WHATWG URL parse of req.url takes it past no mount entry as a "/"', async () => {
    const guard: Application = (_environ, startResponse) => (startResponse('403 Forbidden', [['content-type', 'text/plain']]), ['guarded']);
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      // As Node's docs parse a request's URL.
      const path = new URL(req.url!, 'http://localhost').pathname;
      res.end(path === '/admin/secret' ? 'SECRET' : `listener saw ${path}`);
    };
    const app = mount({ '/admin': guard, '/': fromNodeListener(listener) });
    const answers = [];
    for (const url of ['/admin\\secret', '/x\\..\\admin/secret', '/admin/secret']) answers.push((await request(app, { url })).text());
    expect(answers).toEqual(['listener saw /admin%5Csecret', 'listener saw /x%5C..%5Cadmin/secret', 'guarded']);
  });

  it('hands the listener real http.IncomingMessage and http.ServerResponse objects, prototypes untouched (§1.1)', async () => {
    const before = [IncomingMessage_keys(), ServerResponse_keys()];
    let types: unknown[] = [];
    await request(
      fromNodeListener((req, res) => {
        types = [
          req instanceof http.IncomingMessage,
          res instanceof http.ServerResponse,
          Object.getPrototypeOf(req) === http.IncomingMessage.prototype,
          Object.getPrototypeOf(res) === http.ServerResponse.prototype,
          res.req === req,
        ];
        res.end();
      }),
    );
    expect(types).toEqual([true, true, true, true, true]);
    expect([IncomingMessage_keys(), ServerResponse_keys()]).toEqual(before);
  });

  it('options.prototypes: req and res are made with the prototypes the listener gives them; others are refused', async () => {
    const requestProto = Object.create(http.IncomingMessage.prototype) as object;
    const responseProto = Object.create(http.ServerResponse.prototype) as object;
    let seen: unknown[] = [];
    const app = fromNodeListener(
      (req, res) => {
        seen = [Object.getPrototypeOf(req) === requestProto, Object.getPrototypeOf(res) === responseProto, req.method, res.req === req];
        res.end('ok');
      },
      { prototypes: { request: requestProto, response: responseProto } },
    );
    const res = await request(app, { method: 'POST', body: 'x' });
    expect([res.status, res.text(), seen]).toEqual([200, 'ok', [true, true, 'POST', true]]);
    expect(() => fromNodeListener(undefined as never)).toThrow('fromNodeListener: expected a (req, res) listener, got undefined');
    expect(() => fromNodeListener({ callback: () => () => {} } as never)).toThrow('got object (a Koa app: fromKoa(app), or app.callback())');
    expect(() => fromNodeListener(() => {}, { prepare: {} as never })).toThrow('fromNodeListener: options.prepare must be a function, got object');
    expect(() => fromNodeListener(() => {}, 'x' as never)).toThrow('fromNodeListener: options must be an object of named options, got "x"');
    expect(() => fromNodeListener(() => {}, { prototypes: { request: {}, response: responseProto } })).toThrow(/prototypes\.request must be an object inheriting from http\.IncomingMessage\.prototype/);
    expect(() => fromNodeListener(() => {}, { prototypes: { request: requestProto, response: requestProto } })).toThrow(/prototypes\.response must be an object inheriting from http\.ServerResponse\.prototype/);
    // A request is no prototype: every request made from it would inherit its fields.
    const instance = new http.IncomingMessage(new Socket());
    expect(() => fromNodeListener(() => {}, { prototypes: { request: instance, response: responseProto } })).toThrow(/not a request/);
    const carrier = Object.assign(() => {}, { request: instance, response: responseProto });
    expect(prototypesOf(carrier)).toBeUndefined();
    expect(prototypesOf(Object.assign(() => {}, { request: requestProto, response: responseProto }))).toEqual({ request: requestProto, response: responseProto });
  });

  it('sets method, headers, rawHeaders and httpVersion from environ (§3.1, §3.8, §5)', async () => {
    const view = await seen(
      {
        method: 'PATCH',
        url: '/x',
        protocol: 'HTTP/1.0',
        headers: [
          ['X-Multi', 'a'],
          ['X-Multi', 'b'],
          ['Cookie', 'a=1'],
          ['Cookie', 'b=2'],
          ['Content-Type', 'text/plain'],
        ],
        body: 'abc',
      },
      (req) => ({
        method: req.method,
        version: [req.httpVersion, req.httpVersionMajor, req.httpVersionMinor],
        headers: { ...req.headers },
        raw: req.rawHeaders,
        // A request listener on a real server always sees false: upgrades go to 'upgrade'.
        upgrade: (req as { upgrade?: unknown }).upgrade,
      }),
    );
    expect(view).toEqual({
      upgrade: false,
      method: 'PATCH',
      version: ['1.0', 1, 0],
      headers: { 'x-multi': 'a, b', cookie: 'a=1; b=2', 'content-type': 'text/plain', host: 'localhost', 'content-length': '3' },
      raw: ['x-multi', 'a, b', 'cookie', 'a=1; b=2', 'content-type', 'text/plain', 'host', 'localhost', 'content-length', '3'],
    });
  });

  it('reports HTTP/2 as httpVersion "2.0" (§3.8)', async () => {
    const view = await seen({ protocol: 'HTTP/2' }, (req) => [req.httpVersion, req.httpVersionMajor, req.httpVersionMinor]);
    expect(view).toEqual(['2.0', 2, 0]);
  });

  it('gives an adapter inside the listener an HTTP/2 environ again, not a 505 (§3.8)', async () => {
    const view = await seen({ protocol: 'HTTP/2' }, (req) => nodeEnviron(req, new http.ServerResponse(req)).SERVER_PROTOCOL);
    expect(view).toBe('HTTP/2');
  });

  it('rebuilds req.url from the raw target, keeping %2F and percent-encoded unicode (§4.7)', async () => {
    const url = await seen({ url: '/files/a%2Fb/caf%C3%A9?q=%20x&y' }, (req) => req.url);
    expect(url).toBe('/files/a%2Fb/caf%C3%A9?q=%20x&y');
  });

  it('makes req.url relative to SCRIPT_NAME even when the raw path spells the prefix differently (§14.2)', async () => {
    const view = await seen({ url: '/%61dmin/users/a%2Fb?x=1', scriptName: '/admin' }, (req) => [req.url, req[baseUrlSymbol]]);
    expect(view).toEqual(['/users/a%2Fb?x=1', '/%61dmin']);
  });

  it('gives "/" for a request at the mount point itself, and a bare query there (§3.2, §3.5)', async () => {
    const view = await seen({ url: '/api?page=2', scriptName: '/api' }, (req) => [req.url, req[baseUrlSymbol]]);
    expect(view).toEqual(['/?page=2', '/api']);
  });

  it('finds a prefix whose decoded form spans an encoded slash (§3.3, §14.2)', async () => {
    const view = await seen({ url: '/a%2Fb/c', scriptName: '/a/b' }, (req) => [req.url, req[baseUrlSymbol]]);
    expect(view).toEqual(['/c', '/a%2Fb']);
  });

  it('falls back to the encoded PATH_INFO when a middleware rewrote the path (§13.2)', async () => {
    let url: string | undefined;
    const inner = fromNodeListener((req, res) => {
      url = `${(req as NgiIncomingMessage)[baseUrlSymbol]} ${req.url}`;
      res.end();
    });
    const rewrite: Application = (environ, startResponse) =>
      inner({ ...environ, SCRIPT_NAME: '/v2', PATH_INFO: '/new path/ü' }, startResponse);
    await request(rewrite, { url: '/old?k=v' });
    expect(url).toBe('/v2 /new%20path/%C3%BC?k=v');
  });

  it('exposes environ on req[environSymbol] and runs prepare() before the listener (§15.1)', async () => {
    const order: string[] = [];
    let same = false;
    const app = fromNodeListener(
      (req, res) => {
        order.push('listener');
        same = (req as NgiIncomingMessage)[environSymbol]['ngi.raw_path'] === '/base/x';
        res.end();
      },
      {
        prepare(req, _res, environ) {
          order.push(`prepare ${environ.SCRIPT_NAME} ${req[baseUrlSymbol]}${req.url}`);
        },
      },
    );
    await request(app, { url: '/base/x', scriptName: '/base' });
    expect(order).toEqual(['prepare /base /base/x', 'listener']);
    expect(same).toBe(true);
  });

  it('puts the peer and scheme on req.socket: remoteAddress, remotePort, encrypted, localPort (§3.9, §4.2)', async () => {
    const view = await seen(
      { url: 'https://example.com:8443/', remoteAddress: '203.0.113.9', extra: { REMOTE_PORT: '51234' } },
      (req) => {
        const socket = req.socket as typeof req.socket & { encrypted?: boolean };
        return [socket.remoteAddress, socket.remotePort, socket.remoteFamily, socket.encrypted, socket.localPort];
      },
    );
    expect(view).toEqual(['203.0.113.9', 51234, 'IPv4', true, 8443]);
    // As on node:http, whose net.Socket has no `encrypted` at all.
    const plain = await seen({}, (req) => (req.socket as unknown as { encrypted: boolean }).encrypted);
    expect(plain).toBeUndefined();
  });

  it('gives an https request made without a Node connection the TLS details of a server that asked for no certificate', async () => {
    const view = await seen({ url: 'https://example.com/' }, (req) => {
      const socket = req.socket as import('node:tls').TLSSocket;
      return [socket.authorized, socket.getPeerCertificate(), socket.getPeerX509Certificate(), socket.getProtocol()];
    });
    expect(view).toEqual([false, {}, undefined, null]);
  });
});

describe('fromNodeListener: the request body', () => {
  it('streams a 1 MiB body from ngi.input into req, byte for byte (§4.3)', async () => {
    const bytes = randomBytes(1024 * 1024);
    const input = countedBody(bytes, 64 * 1024);
    const app = fromNodeListener((req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        hash.update(chunk);
      });
      req.on('end', () => res.end(`${size} ${hash.digest('hex')} ${req.complete}`));
    });
    const res = await request(app, { method: 'POST', body: input.body, headers: { 'content-length': String(bytes.byteLength) } });
    expect(res.text()).toBe(`${bytes.byteLength} ${sha256(bytes)} true`);
    expect(input.pulled()).toBe(16);
  });

  it('pulls ngi.input only as fast as the listener reads (backpressure, §4.3)', async () => {
    const bytes = randomBytes(1024 * 1024);
    const input = countedBody(bytes, 64 * 1024);
    const paused = deferred();
    const resume = deferred();
    const app = fromNodeListener((req, res) => {
      let size = 0;
      req.once('data', () => {
        req.pause();
        paused.resolve();
        void resume.promise.then(() => req.resume());
      });
      req.on('data', (chunk: Buffer) => void (size += chunk.byteLength));
      req.on('end', () => res.end(String(size)));
    });
    const response = request(app, { method: 'POST', body: input.body, headers: { 'content-length': String(bytes.byteLength) } });
    await paused.promise;
    await tick(20);
    expect(input.pulled()).toBeLessThanOrEqual(2);
    resume.resolve();
    expect((await response).text()).toBe(String(bytes.byteLength));
  });

  it('aborts the request when ngi.input fails mid-body as the client goes away: "aborted", "error", "close" (§4.3)', async () => {
    const events: string[] = [];
    const closed = deferred();
    const left = new AbortController();
    const input = {
      async *[Symbol.asyncIterator]() {
        yield new Uint8Array(10);
        left.abort(new Error('The client disconnected'));
        throw new Error('client went away');
      },
    };
    const app = fromNodeListener((req) => {
      req.on('data', () => events.push('data'));
      req.on('aborted', () => events.push('aborted'));
      req.on('error', (error) => events.push(`error ${error.message}`));
      req.on('close', () => {
        events.push('close');
        closed.resolve();
      });
    });
    await request(app, { method: 'POST', body: input, headers: { 'content-length': '100' }, signal: left.signal }).catch(() => undefined);
    await closed.promise;
    // Node's own error for a request whose client left.
    expect(events).toEqual(['data', 'aborted', 'error aborted', 'close']);
  });

  it('§4.3 errors the request without "aborted" when ngi.input fails with the client still there, for the listener to answer', async () => {
    // As body parsers do: "aborted" would read as the client gone (raw-body's 400, multer's "Request aborted").
    const events: string[] = [];
    const input = {
      async *[Symbol.asyncIterator]() {
        yield new Uint8Array(10);
        throw new HttpError(413, 'Request body larger than 10 bytes');
      },
    };
    const app = fromNodeListener((req, res) => {
      req.on('data', () => events.push('data'));
      req.on('aborted', () => events.push('aborted'));
      req.on('close', () => events.push('close'));
      req.on('error', (error: Error & { status?: number }) => {
        events.push(`error ${error.message}`);
        res.writeHead(error.status ?? 500, { 'content-type': 'text/plain' }).end(error.message);
      });
    });
    const res = await request(app, { method: 'POST', body: input, headers: { 'content-length': '100' } });
    expect([res.status, res.text()]).toEqual([413, 'Request body larger than 10 bytes']);
    expect(events).toEqual(['data', 'error Request body larger than 10 bytes', 'close']);
    // Nobody listening for the error: the connection goes, and the server answers it, rather than wait.
    const unobserved = await request(
      fromNodeListener((req) => void req.resume()),
      { method: 'POST', body: input, headers: { 'content-length': '100' } },
    );
    expect(unobserved.status).toBe(413);
    // Observed but never answered (an answer on 'end', as in Node's own guide): the server answers
    // it after a grace, as a request error means a lost connection to such a listener.
    const logged: string[] = [];
    const waiting = fromNodeListener((req, res) => {
      req.on('error', (error) => logged.push(error.message)).resume().on('end', () => res.end('whole'));
    });
    const unanswered = await request(waiting, { method: 'POST', body: input, headers: { 'content-length': '100' } });
    expect([unanswered.status, logged]).toEqual([413, ['Request body larger than 10 bytes']]);
  });

  it('answers without touching ngi.input when the listener ignores the body (§4.3, §12.3)', async () => {
    const input = countedBody(randomBytes(256 * 1024), 16 * 1024);
    const closed = deferred<boolean>();
    const app = fromNodeListener((req, res) => {
      req.on('close', () => closed.resolve(req.complete));
      res.writeHead(413, { 'content-type': 'text/plain' }).end('too big');
    });
    const res = await request(app, { method: 'PUT', body: input.body, headers: { 'content-length': String(256 * 1024) } });
    expect([res.status, res.text()]).toEqual([413, 'too big']);
    expect(await closed.promise).toBe(true);
    expect(input.pulled()).toBe(0);
  });

  it('ends a bodiless request so readers such as finalhandler see "end" (§4.3)', async () => {
    const app = fromNodeListener((req, res) => {
      req.resume();
      req.on('end', () => res.end('ended'));
    });
    expect((await request(app)).text()).toBe('ended');
  });
});

describe('fromNodeListener: the response', () => {
  it('resolves at writeHead and streams chunks before res.end() is called (§8.1, §9.3)', async () => {
    const release = deferred();
    let ended = false;
    const app = fromNodeListener((_req, res) => {
      res.writeHead(200, 'Fine', { 'content-type': 'text/plain' });
      res.write('first ');
      void release.promise.then(() => {
        ended = true;
        res.end('last');
      });
    });
    const res = await stream(app);
    expect([res.status, res.statusText, res.header('content-type')]).toEqual([200, 'Fine', 'text/plain']);
    const chunks: string[] = [];
    const iterator = res.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    chunks.push(text(first.value as Uint8Array));
    expect(ended).toBe(false);
    release.resolve();
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) chunks.push(text(step.value));
    expect(chunks).toEqual(['first ', 'last']);
  });

  it('sends the head of an event stream at flushHeaders(), before any body byte (§8.3)', async () => {
    const send = deferred();
    const app = fromNodeListener((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      void send.promise.then(() => res.end('data: hi\n\n'));
    });
    const res = await stream(app);
    expect(res.header('content-type')).toBe('text/event-stream');
    send.resolve();
    const parts: string[] = [];
    for await (const part of res.body) parts.push(text(part));
    expect(parts).toEqual(['data: hi\n\n']);
  });

  it('flushHeaders() without writeHead sends the implicit head too (§8.3)', async () => {
    const send = deferred();
    const app = fromNodeListener((_req, res) => {
      res.statusCode = 202;
      res.setHeader('content-type', 'text/event-stream');
      res.flushHeaders();
      void send.promise.then(() => res.end());
    });
    const res = await stream(app);
    expect(res.status).toBe(202);
    send.resolve();
    for await (const part of res.body) expect(part).toBeUndefined();
  });

  it('returns false from res.write() and emits "drain" only once the server took the chunk (§7.1, srvx#208)', async () => {
    const events: string[] = [];
    const wrote = deferred();
    const app = fromNodeListener((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      events.push(`write ${res.write(Buffer.alloc(64 * 1024, 1))}`);
      events.push(`needDrain ${res.writableNeedDrain}`);
      res.once('drain', () => {
        events.push('drain');
        res.end();
      });
      wrote.resolve();
    });
    const res = await stream(app);
    await wrote.promise;
    await tick(20);
    expect(events).toEqual(['write false', 'needDrain true']);
    let size = 0;
    for await (const part of res.body) size += part.byteLength;
    expect(size).toBe(64 * 1024);
    expect(events).toEqual(['write false', 'needDrain true', 'drain']);
  });

  it('streams a piped 1 MiB Readable through, with write callbacks and "finish" after the server took it all (§9.3)', async () => {
    const bytes = randomBytes(1024 * 1024);
    let finished = 0;
    const app = fromNodeListener((_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.on('finish', () => (finished = Date.now()));
      Readable.from([bytes.subarray(0, 300_000), bytes.subarray(300_000, 700_000), bytes.subarray(700_000)]).pipe(res);
    });
    const res = await request(app);
    expect(sha256(res.body)).toBe(sha256(bytes));
    await tick();
    expect(finished).toBeGreaterThan(0);
  });

  it('emits "finish" only after the server took the last chunk (§7.1)', async () => {
    let finished = false;
    const app = fromNodeListener((_req, res) => {
      res.on('finish', () => (finished = true));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      res.end('b');
    });
    const res = await stream(app);
    const iterator = res.body[Symbol.asyncIterator]();
    await iterator.next();
    await tick();
    expect(finished).toBe(false);
    await iterator.next();
    expect((await iterator.next()).done).toBe(true);
    await tick();
    expect(finished).toBe(true);
  });

  it('makes writeHead() throw, as Node does for a bad field, when startResponse rejects the head (§6.2, §6.6), and the next head declares none of it', async () => {
    let thrown: unknown;
    const app = fromNodeListener((_req, res) => {
      try {
        // Node's own checks let it pass; startResponse refuses it.
        res.writeHead(200, { 'content-length': 'abc' });
      } catch (error) {
        thrown = error;
        res.writeHead(502, { 'content-type': 'text/plain' }).end('caught');
      }
    });
    const res = await request(app, { validate: false });
    expect(thrown).toBeInstanceOf(TypeError);
    expect(String(thrown)).toContain('§6.2');
    expect([res.status, res.text()]).toEqual([502, 'caught']);
  });

  it('§6.1 makes writeHead(103) throw, a 1xx being no response\'s status, and the next head has its body', async () => {
    let thrown: unknown;
    const app = fromNodeListener((_req, res) => {
      try {
        res.writeHead(103, { link: '</a.css>; rel=preload' }).end();
      } catch (error) {
        thrown = error;
        res.writeHead(200, { 'content-type': 'text/plain' }).end('the answer');
      }
    });
    const res = await request(app, { validate: false });
    expect(String(thrown)).toContain('§6.1');
    expect([res.status, res.statusText, res.text()]).toEqual([200, 'OK', 'the answer']);
  });

  it('makes writeHead(101) throw: a protocol upgrade cannot pass, its Upgrade field being hop-by-hop (§6.3)', async () => {
    let thrown: unknown;
    const upgrade = { upgrade: 'websocket', connection: 'upgrade' };
    const app = fromNodeListener((_req, res) => {
      try {
        res.writeHead(101, upgrade).end();
      } catch (error) {
        thrown = error;
        res.writeHead(426, { 'content-type': 'text/plain' }).end('no upgrade here');
      }
    });
    const res = await request(app, { headers: upgrade });
    expect(String(thrown)).toContain('101');
    // With its own reason phrase, not the refused 101's.
    expect([res.status, res.statusText, res.text()]).toEqual([426, 'Upgrade Required', 'no upgrade here']);
    const uncaught = await request(fromNodeListener((_req, res) => void res.writeHead(101, upgrade).end()), { headers: upgrade });
    expect(uncaught.status).toBe(500);
  });

  it('keeps every set-cookie: setHeader arrays, raw writeHead arrays, and both together (§6.3, srvx#144)', async () => {
    const cookies = async (listener: Listener) =>
      (await request(fromNodeListener(listener))).headers.filter(([name]) => name.toLowerCase() === 'set-cookie').map(([, v]) => v);
    expect(await cookies((_q, res) => res.setHeader('Set-Cookie', ['a=1', 'b=2']).end())).toEqual(['a=1', 'b=2']);
    expect(await cookies((_q, res) => res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']).end())).toEqual(['a=1', 'b=2']);
    expect(
      await cookies((_q, res) => {
        res.setHeader('content-type', 'text/plain');
        res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']).end();
      }),
    ).toEqual(['a=1', 'b=2']);
    expect(
      await cookies((_q, res) => {
        res.setHeader('Set-Cookie', 'old=0');
        res.appendHeader('set-cookie', 'c=3');
        res.writeHead(200, { 'x-other': '1' }).end();
      }),
    ).toEqual(['old=0', 'c=3']);
  });

  it('strips transfer-encoding and hop-by-hop headers and never chunk-frames the body (§6.3, §10.2, srvx#248)', async () => {
    const app = fromNodeListener((_req, res) => {
      res.setHeader('Transfer-Encoding', 'chunked');
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('Connection', 'keep-alive, X-Hop');
      res.setHeader('X-Hop', 'private');
      res.setHeader('Content-Type', 'text/plain');
      res.write('hello ');
      res.end('world');
    });
    const res = await request(app);
    expect(res.headers).toEqual([['Content-Type', 'text/plain']]);
    expect(res.text()).toBe('hello world');
  });

  it('reports the Content-Length Node would add for a body given whole to end()', async () => {
    const res = await request(fromNodeListener((_req, res) => res.end('héllo')));
    expect(res.headers).toEqual([['Content-Length', '6']]);
    expect(res.text()).toBe('héllo');
  });

  it('enforces res.strictContentLength against the declared Content-Length, as Node does', async () => {
    const thrown: unknown[] = [];
    const attempt = (step: () => void): void => {
      try {
        step();
      } catch (error) {
        thrown.push((error as { code?: string }).code);
      }
    };
    const app = fromNodeListener((_req, res) => {
      res.strictContentLength = true;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      attempt(() => res.write('hello world')); // past the declared length: throws, nothing written
      res.write('hel');
      attempt(() => res.end()); // short of it: throws, the response stays open
      res.end('lo');
    });
    const res = await request(app);
    expect(thrown).toEqual(['ERR_HTTP_CONTENT_LENGTH_MISMATCH', 'ERR_HTTP_CONTENT_LENGTH_MISMATCH']);
    expect(res.text()).toBe('hello');
  });

  it('uses res.statusMessage, else the standard reason phrase, else "unknown" as Node does (§6.1)', async () => {
    const status = async (listener: Listener) => {
      const res = await request(fromNodeListener(listener));
      return `${res.status} ${res.statusText}`;
    };
    expect(await status((_q, res) => res.writeHead(404).end())).toBe('404 Not Found');
    expect(await status((_q, res) => ((res.statusMessage = 'Gone Fishing'), res.end()))).toBe('200 Gone Fishing');
    expect(await status((_q, res) => res.writeHead(599).end())).toBe('599 unknown');
  });

  it('keeps the Content-Length of a HEAD response and sends no body (§10.3)', async () => {
    let finished = false;
    const app = fromNodeListener((req, res) => {
      res.on('finish', () => (finished = true));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
      res.end(req.method === 'HEAD' ? 'hello world' : 'hello world');
    });
    const res = await request(app, { method: 'HEAD' });
    expect(res.header('content-length')).toBe('11');
    expect(res.body.byteLength).toBe(0);
    await tick();
    expect(finished).toBe(true);
  });

  it('lets a HEAD listener end after the server is done, with normal "finish" and "close" (§10.3)', async () => {
    const later = deferred();
    const events = deferred<string[]>();
    const app = fromNodeListener((_req, res) => {
      const seen: string[] = [];
      res.on('finish', () => seen.push('finish'));
      res.on('close', () => events.resolve([...seen, `close ${res.writableFinished}`]));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
      res.flushHeaders();
      void later.promise.then(() => res.end('hello'));
    });
    const res = await request(app, { method: 'HEAD' });
    expect(res.header('content-length')).toBe('5');
    later.resolve();
    expect(await events.promise).toEqual(['finish', 'close true']);
  });

  it('sends no body and no Content-Length/Content-Type for 204, keeps validators on 304 (§10.3, §10.4)', async () => {
    const noContent = await request(
      fromNodeListener((_q, res) => res.writeHead(204, { 'content-type': 'text/plain', 'content-length': '0' }).end('ignored')),
    );
    expect([noContent.status, noContent.headers, noContent.body.byteLength]).toEqual([204, [], 0]);
    const notModified = await request(
      fromNodeListener((_q, res) => res.writeHead(304, { etag: '"v1"', 'content-type': 'text/html' }).end()),
    );
    expect([notModified.status, notModified.headers, notModified.body.byteLength]).toEqual([304, [['etag', '"v1"']], 0]);
  });

  it('drops 1xx interim responses (writeContinue, writeEarlyHints) from the body (§12.4)', async () => {
    const app = fromNodeListener((_req, res) => {
      res.writeContinue();
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('body');
    });
    const res = await request(app, { method: 'POST', body: 'x', headers: { expect: '100-continue' } });
    expect(res.text()).toBe('body');
  });

  it('keeps working after the listener re-parents req and res, as Express does', async () => {
    const release = deferred();
    const app = fromNodeListener((req, res) => {
      Object.setPrototypeOf(req, Object.create(http.IncomingMessage.prototype));
      Object.setPrototypeOf(res, Object.create(http.ServerResponse.prototype));
      res.setHeader('Set-Cookie', ['a=1']);
      res.writeHead(200, ['Set-Cookie', 'b=2', 'Set-Cookie', 'c=3', 'content-type', 'text/plain']);
      res.write('streamed ');
      void release.promise.then(() => res.end('late'));
    });
    const res = await stream(app);
    expect(res.headers.filter(([name]) => name === 'Set-Cookie').map(([, value]) => value)).toEqual(['b=2', 'c=3']);
    release.resolve();
    const parts: string[] = [];
    for await (const part of res.body) parts.push(text(part));
    expect(parts.join('')).toBe('streamed late');
  });
});

describe('fromNodeListener: lifecycle and errors', () => {
  it('emits "finish" then "close" on res and "close" on req after a normal response; ngi.signal stays quiet (§12.2)', async () => {
    const events: string[] = [];
    const done = deferred();
    let signal!: AbortSignal;
    const app = fromNodeListener((req, res) => {
      signal = (req as NgiIncomingMessage)[environSymbol]['ngi.signal'];
      req.on('close', () => events.push('req close'));
      res.on('finish', () => events.push('res finish'));
      res.on('close', () => {
        events.push(`res close ${res.writableFinished}`);
        done.resolve();
      });
      res.end('ok', () => events.push('end callback'));
    });
    await request(app);
    await done.promise;
    await tick();
    // The order a real http.Server produces (the end() callback is a later 'finish' listener).
    expect(events).toEqual(['res finish', 'end callback', 'res close true', 'req close']);
    expect(signal.aborted).toBe(false);
  });

  it('returns a synchronously iterable body when the listener ended in the step that wrote the head (§9.1)', async () => {
    const chunks = (body: Iterable<Chunk>) => [...body].map((chunk) => (typeof chunk === 'string' ? chunk : text(chunk)));
    const { body } = await call(fromNodeListener((_req, res) => res.end('sync')));
    expect(Symbol.iterator in body).toBe(true);
    expect(chunks(body as Iterable<Chunk>)).toEqual(['sync']);
    await body.close?.();
    const { body: deferredEnd } = await call(fromNodeListener((_req, res) => void setTimeout(() => res.end('one step'), 1)));
    expect(chunks(deferredEnd as Iterable<Chunk>)).toEqual(['one step']);
    await deferredEnd.close?.();
    const app = fromNodeListener((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      setTimeout(() => res.end('later'), 1);
    });
    const { body: streaming } = await call(app);
    expect(Symbol.asyncIterator in streaming && !(Symbol.iterator in streaming)).toBe(true);
    for await (const _ of streaming as AsyncIterable<Chunk>) void _;
    await streaming.close?.();
  });

  it('keeps a response the listener ended and logs an error thrown afterwards (§4.4)', async () => {
    const res = await request(
      fromNodeListener((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
        throw new Error('after end');
      }),
    );
    expect([res.status, res.text()]).toEqual([200, 'fine']);
    expect(res.errors.join('')).toContain('after end');
  });

  it('fires res.setTimeout() callbacks through the socket', async () => {
    const app = fromNodeListener((_req, res) => {
      res.setTimeout(5, () => res.writeHead(503, { 'content-type': 'text/plain' }).end('timed out'));
    });
    const res = await request(app);
    expect([res.status, res.text()]).toEqual([503, 'timed out']);
  });

  it('makes the application throw when the listener throws before the head: a 500 (§11.1)', async () => {
    const res = await request(
      fromNodeListener(() => {
        throw new Error('boom');
      }),
    );
    expect(res.status).toBe(500);
    expect(res.errors.join('')).toContain('boom');
    const app = fromNodeListener(() => {
      throw new Error('sync');
    });
    expect(() => app(createEnviron(), () => async () => {})).toThrow('sync');
  });

  it('answers 500 when an async listener rejects or destroys the response before the head (§11.1)', async () => {
    const rejected = await request(
      fromNodeListener(async () => {
        await tick(1);
        throw new Error('async boom');
      }),
    );
    expect(rejected.status).toBe(500);
    expect(rejected.errors.join('')).toContain('async boom');
    const destroyed = await request(fromNodeListener((_q, res) => void setTimeout(() => res.destroy(new Error('gone')), 1)));
    expect(destroyed.status).toBe(500);
  });

  it('abandons the response when res.destroy() comes after the head (§11.2)', async () => {
    const app = fromNodeListener((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
      setTimeout(() => res.destroy(new Error('mid-body failure')), 5);
    });
    await expect(request(app)).rejects.toThrow('abandoned');
    const thrown = fromNodeListener((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      throw new Error('after head');
    });
    await expect(request(thrown)).rejects.toThrow('abandoned');
  });

  it('still answers 500 when the listener fails after writeHead but before the server sent a byte (§8.1, §11.1)', async () => {
    const res = await request(
      fromNodeListener((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).write('partial');
        throw new Error('late but not too late');
      }),
    );
    expect([res.status, res.text()]).toEqual([500, 'Internal Server Error']);
  });

  it('turns a client abort into req "aborted"/"close", res "close" unfinished and socket "close" (§12.1)', async () => {
    const controller = new AbortController();
    const events: string[] = [];
    const closed = deferred();
    const app = fromNodeListener((req, res) => {
      req.on('aborted', () => events.push(`req aborted ${req.aborted}`));
      req.on('close', () => events.push('req close'));
      req.socket.on('close', () => events.push('socket close'));
      res.on('close', () => {
        events.push(`res close finished=${res.writableFinished}`);
        closed.resolve();
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('tick');
    });
    const res = await stream(app, { signal: controller.signal });
    controller.abort(new Error('client left'));
    await expect(async () => {
      for await (const _ of res.body) void _;
    }).rejects.toThrow();
    await closed.promise;
    await tick();
    // The order a real http.Server produces when the client disconnects.
    expect(events).toEqual(['req aborted true', 'res close finished=false', 'socket close', 'req close']);
  });

  it('a listener still reading when its response finished sees the request aborted, not a body that looks complete (§12.3)', async () => {
    const events: string[] = [];
    const closed = deferred();
    const rest = deferred();
    const app = fromNodeListener((req, res) => {
      req.once('data', () => res.end('early'));
      req.on('data', () => events.push('data'));
      req.on('end', () => events.push('end'));
      req.on('aborted', () => events.push('aborted'));
      req.on('close', () => {
        events.push('close');
        closed.resolve();
      });
    });
    const body = (async function* () {
      yield 'x';
      await rest.promise;
      yield 'y';
    })();
    expect((await request(app, { method: 'POST', body })).text()).toBe('early');
    await new Promise((resolve) => setImmediate(resolve)); // the exchange is released
    rest.resolve();
    await closed.promise;
    expect(events).toEqual(['data', 'aborted', 'close']);
  });

  it('settles a listener that never responds once ngi.signal aborts (§12.1)', async () => {
    const controller = new AbortController();
    const closed = deferred<boolean>();
    const app = fromNodeListener((_req, res) => void res.on('close', () => closed.resolve(res.headersSent)));
    const pending = stream(app, { signal: controller.signal });
    await tick();
    controller.abort(new Error('client left'));
    await expect(pending).rejects.toThrow();
    expect(await closed.promise).toBe(false);
  });

  it('destroys an unfinished response on close(), once, however often close() is called (§9.4)', async () => {
    let closes = 0;
    const app = fromNodeListener((_req, res) => {
      res.on('close', () => closes++);
      res.writeHead(200, { 'content-type': 'text/plain' }).write('never ends');
    });
    const { body, heads } = await call(app);
    expect(heads[0]?.[0]).toBe('200 OK');
    const iterator = (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
    expect(text((await iterator.next()).value as Uint8Array)).toBe('never ends');
    await iterator.return?.();
    await body.close?.();
    await body.close?.();
    await tick();
    expect(closes).toBe(1);
    await expect(iterator.next()).rejects.toThrow();
  });

  it('rejects body iteration when the listener destroys the socket mid-stream (§11.2)', async () => {
    const app = fromNodeListener((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).write('a');
      setTimeout(() => req.socket.destroy(), 5);
    });
    const { body } = await call(app);
    const iterator = (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]();
    await iterator.next();
    await expect(iterator.next()).rejects.toThrow('closed before it ended');
    await body.close?.();
  });

  it('fails at once, instead of hanging, when the listener writes to req.socket itself (a hand-rolled upgrade) (§11.1)', async () => {
    const upgrade = { upgrade: 'websocket', connection: 'upgrade' };
    const raw = await request(
      fromNodeListener((req) => void req.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n')),
      { headers: upgrade, signal: AbortSignal.timeout(1000) },
    );
    expect(raw.status).toBe(500);
    expect(raw.errors.join('')).toContain('wrote to req.socket');
  });

  it('treats req.socket.end() as the connection closing: unanswered it fails, answered it goes out whole (§11.1)', async () => {
    const unanswered = await request(fromNodeListener((req) => void req.socket.end()), { signal: AbortSignal.timeout(1000) });
    expect(unanswered.status).toBe(500);
    const closed = deferred<boolean>();
    const answered = await request(
      fromNodeListener((req, res) => {
        res.on('close', () => closed.resolve(res.writableFinished));
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        req.socket.end();
      }),
      { signal: AbortSignal.timeout(1000) },
    );
    expect(answered.text()).toBe('ok');
    expect(await closed.promise).toBe(true);
  });
});

describe('fromNodeListener over a real socket (toNodeListener)', () => {
  let server: http.Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(listener: Listener): Promise<string> {
    server = http.createServer(toNodeListener(fromNodeListener(listener)) as http.RequestListener);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('round-trips method, raw url, body and cookies (§4.7, §6.3)', async () => {
    const url = await serve((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (part: Buffer) => parts.push(part));
      req.on('end', () => {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(parts).toString(), ip: req.socket.remoteAddress }));
      });
    });
    const res = await fetch(`${url}/a%2Fb?x=1`, { method: 'POST', body: 'payload' });
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({ method: 'POST', url: '/a%2Fb?x=1', body: 'payload', ip: '127.0.0.1' });
  });

  it('answers 400 to a malformed path without calling the listener, as the full conversion does (§3.3)', async () => {
    let called = false;
    const url = await serve((_req, res) => void ((called = true), res.end('listener ran')));
    const res = await fetch(`${url}/a%zz`);
    expect([res.status, await res.text()]).toEqual([400, 'Malformed percent-encoding in path: "/a%zz"']);
    expect(called).toBe(false);
  });

  it('answers a listener that throws before the head with a bare 500, none of the headers it had set, as the full conversion does (§11.1)', async () => {
    const url = await serve((_req, res) => {
      res.setHeader('set-cookie', 'session=secret');
      res.setHeader('content-encoding', 'gzip');
      throw new Error('boom');
    });
    const res = await fetch(url);
    expect([res.status, res.headers.get('set-cookie'), res.headers.get('content-encoding')]).toEqual([500, null, null]);
    expect(await res.text()).toBe('Internal Server Error');
  });

  it('answers a listener whose reason phrase Node refuses with a 500 of its own reason, as the full conversion does (§11.1)', async () => {
    // Node refuses the reason at the head, in the listener; the answer must not take it up again.
    for (const reason of ['Caf\u20ac', 'Caf\xe9']) {
      const url = await serve((_req, res) => {
        res.statusMessage = reason;
        res.setHeader('x-bad', 'caf\u20ac');
        res.end('ok');
      });
      const res = await fetch(url);
      expect([res.status, res.statusText, await res.text()]).toEqual([500, 'Internal Server Error', 'Internal Server Error']);
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
    }
  });

  it('answers 500 when a listener returns a promise of another library that rejects, as the full conversion does (§11.1)', async () => {
    // A thenable that is not a native Promise (an older promise library's), rejected before the head.
    const thenable = { then: (_resolve: unknown, reject: (error: Error) => void) => void setImmediate(() => reject(new Error('rejected late'))) };
    const url = await serve((() => thenable) as unknown as Listener);
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    expect([res.status, await res.text()]).toEqual([500, 'Internal Server Error']);
  });

  it('keeps a response the listener ended before it failed, as the full conversion does (§4.4)', async () => {
    const body = randomBytes(4 << 20);
    const url = await serve(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
      throw new Error('failed after responding');
    });
    const res = await fetch(url);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(body));
  });

  it('delivers an event stream head before its first event (§8.3)', async () => {
    const send = deferred();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      void send.promise.then(() => res.end('data: 1\n\n'));
    });
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    send.resolve();
    expect(await res.text()).toBe('data: 1\n\n');
  });
});

describe('fromNodeListener waiting for a head, over a real socket with the full conversion', () => {
  let server: http.Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serveApp(app: Application): Promise<string> {
    server = http.createServer(toNodeListener(app, { errors }) as http.RequestListener);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const logged: string[] = [];
  const errors = { write: (message: string) => void logged.push(message), flush() {} };

  const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

  /** A listener that never answers and reports when its response closes. */
  function silent(): { listener: Listener; closed: Promise<boolean> } {
    const closed = deferred<boolean>();
    return { listener: (_req, res) => void res.on('close', () => closed.resolve(res.headersSent)), closed: closed.promise };
  }

  it('§12.1 the client leaving reaches a listener that has not answered', async () => {
    const { listener, closed } = silent();
    const url = await serveApp(through(fromNodeListener(listener)));
    const controller = new AbortController();
    const pending = fetch(url, { signal: controller.signal }).catch(() => undefined);
    await tick();
    await tick();
    controller.abort();
    await pending;
    expect(await closed).toBe(false);
  });

  it('§9.3 a response the listener ended before it destroyed the connection goes out whole, as from a socket', async () => {
    const url = await serveApp(
      through(
        fromNodeListener((req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
          if (req.url === '/later') {
            res.write('hel');
            setTimeout(() => (res.end('lo'), res.socket!.destroy()), 5);
          } else {
            res.end('hello');
            req.destroy(); // as a listener refusing an upload stops it
          }
        }),
      ),
    );
    for (const path of ['/', '/later']) {
      const res = await fetch(url + path, { method: 'POST', body: 'a small upload' });
      expect([res.status, await res.text()]).toEqual([200, 'hello']);
    }
  });

  it('§12.1 res.setTimeout() is an inactivity timer: a response still writing is not timed out', async () => {
    const url = await serveApp(
      through(
        fromNodeListener((_req, res) => {
          res.setTimeout(500, () => res.destroy());
          res.writeHead(200, { 'content-type': 'text/plain' });
          let count = 0;
          const timer = setInterval(() => {
            res.write('.');
            if (++count === 50) {
              clearInterval(timer);
              res.end();
            }
          }, 20);
        }),
      ),
    );
    expect(await (await fetch(url)).text()).toBe('.'.repeat(50));
  });

  it('§12.1 a signal that outlives the exchange keeps no listener of it once the head is known', async () => {
    const shared = new AbortController();
    const inner = fromNodeListener((_req, res) => void setTimeout(() => res.end('ok'), 1));
    const url = await serveApp((environ, startResponse) => inner({ ...environ, 'ngi.signal': shared.signal }, startResponse));
    for (let i = 0; i < 3; i++) expect(await (await fetch(url)).text()).toBe('ok');
    expect(getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });

  it('§12.1 a signal a middleware put in place of ngi.signal is the one watched', async () => {
    const { listener, closed } = silent();
    const timeout = new AbortController();
    const url = await serveApp((environ, startResponse) => fromNodeListener(listener)({ ...environ, 'ngi.signal': timeout.signal }, startResponse));
    const pending = fetch(url);
    await tick();
    await tick();
    timeout.abort(new Error('timed out'));
    expect(await closed).toBe(false);
    // The client is still there: the application failed before its head, a logged 500 (§11.1).
    expect((await pending).status).toBe(500);
    expect(logged.join('')).toContain('timed out');
  });
});

function IncomingMessage_keys(): string[] {
  return Reflect.ownKeys(http.IncomingMessage.prototype).map(String);
}
function ServerResponse_keys(): string[] {
  return Reflect.ownKeys(http.ServerResponse.prototype).map(String);
}

describe('an application called as a request handler', () => {
  it('given to createServer itself, it answers 500 naming the mistake and logs it once, where a throw would end the process', async () => {
    const logged: unknown[] = [];
    const log = console.error;
    console.error = (error: unknown) => void logged.push(error);
    const made = [fromNodeListener((_req, res) => res.end('ok')), mount({ '/': () => [] })];
    const server = http.createServer(made[0] as never);
    const other = http.createServer(made[1] as never);
    try {
      const answers = [];
      for (const target of [server, other, server]) {
        await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
        const res = await fetch(`http://127.0.0.1:${(target.address() as AddressInfo).port}/`);
        answers.push([res.status, await res.text()]);
        target.close();
      }
      expect(answers.map(([status]) => status)).toEqual([500, 500, 500]);
      expect(answers[0]![1]).toBe(
        'An application from fromExpress, fromKoa, fromFastify or fromNodeListener is an NGI application, (environ, startResponse) => body, but was called with a Node request (IncomingMessage): ' +
          'serve it with serve(app) or createServer(toNodeListener(app)) from @ngi/node, or mount it with toExpress, toKoa, fastifyNgi or toFetch',
      );
      expect(answers[1]![1]).toMatch(/^mount\(table\) is an NGI application/);
      expect(logged.map(String)).toEqual([`TypeError: ${answers[0]![1]}`, `TypeError: ${answers[1]![1]}`]);
    } finally {
      console.error = log;
    }
  });

  it('called as middleware, (req, res, next) or (ctx, next), it throws the TypeError for the framework to answer', () => {
    const app = fromNodeListener((_req, res) => res.end('ok'));
    const req = new http.IncomingMessage(new Socket());
    expect(() => app(req as never, {} as never)).toThrow(/called with a Node request \(IncomingMessage\)/);
    expect(() => app({ req, res: {}, app: {} } as never, (() => {}) as never)).toThrow(/called with a Koa context/);
    // Called with nothing at all, it still names the mistake rather than fail reading a key of undefined.
    expect(() => (app as unknown as () => unknown)()).toThrow(/is an NGI application, \(environ, startResponse\) => body, but was called with \(undefined, undefined\)/);
  });
});
