import { randomBytes } from 'node:crypto';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createEnviron, mount, request, requestUrl, runApp, type Application, type Environ } from '@ngi/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NodeSink,
  baseUrlSymbol,
  drainAfterResponse,
  fromNodeListener,
  nodeEnviron,
  parsedBodyInput,
  type NgiIncomingMessage,
  type ParsedBody,
  type ParsedBodyOptions,
} from '../src/index.ts';
import { fetchRaw } from '../../../test/conformance/client.ts';

let server: Server | undefined;
afterEach(() => void server?.close());

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(listener);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('nodeEnviron and NodeSink, for framework adapters', () => {
  it('§3.2 names the likely slip when the path is not under the mount prefix: a trailing "/", or a target a framework cut', async () => {
    const seen: string[] = [];
    const url = await listen((req, res) => {
      for (const scriptName of ['/api/', '/api']) {
        try {
          nodeEnviron(req, res, { scriptName });
        } catch (error) {
          seen.push((error as Error).message);
        }
      }
      res.end();
    });
    await fetchRaw(url, '/x');
    expect(seen).toEqual([
      'the request path "/x" is not under the mount prefix "/api/": a mount prefix does not end with "/" (§3.2)',
      'the request path "/x" is not under the mount prefix "/api"; give the full request target as options.target where a framework has cut req.url',
    ]);
  });

  it('§3.2 §3.4 §4.7 a framework-cut url: SCRIPT_NAME from the mount, raw path from the full target', async () => {
    let seen: Record<string, unknown> = {};
    const app: Application = (environ, startResponse) => {
      seen = { script: environ.SCRIPT_NAME, path: environ.PATH_INFO, raw: environ['ngi.raw_path'], query: environ.QUERY_STRING };
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    const url = await listen((req, res) => {
      const full = req.url!;
      req.url = full.slice('/mnt'.length); // as a router trims its mount point
      void runApp(app, nodeEnviron(req, res, { target: full, scriptName: '/mnt' }), new NodeSink(req, res));
    });
    await fetchRaw(url, '/mnt/a%2Fb?q=1');
    expect(seen).toEqual({ script: '/mnt', path: '/a/b', raw: '/mnt/a%2Fb', query: 'q=1' });
  });

  it('§6.3 keeps headers set earlier on res, lets the app replace same-named ones, accumulates cookies', async () => {
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [
        ['content-type', 'application/json'],
        ['set-cookie', 'app1=1'],
        ['set-cookie', 'app2=2'],
      ]);
      return ['{}'];
    };
    const url = await listen((req, res) => {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('content-type', 'text/html');
      res.setHeader('set-cookie', 'session=s');
      void runApp(app, nodeEnviron(req, res), new NodeSink(req, res));
    });
    const res = await fetchRaw(url, '/');
    expect(res.header('access-control-allow-origin')).toBe('*');
    expect(res.all('content-type')).toEqual(['application/json']);
    expect(res.all('set-cookie')).toEqual(['session=s', 'app1=1', 'app2=2']);
  });

  it.each([
    ['between two chunks', 1],
    ['while a write waits for drain', 256 * 1024],
  ])('§9.4 a body still streaming when someone else ends res is stopped and closed (%s)', async (_label, size) => {
    let closed!: () => void;
    const closing = new Promise<void>((resolve) => (closed = resolve));
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (async function* () {
        for (;;) {
          yield 'x'.repeat(size);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      return Object.assign(body, { close: () => closed() });
    };
    const log: string[] = [];
    const url = await listen((req, res) => {
      setTimeout(() => res.end('[timed out]'), 50); // as a timeout middleware does
      void runApp(app, nodeEnviron(req, res, { errors: { write: (m) => void log.push(m), flush() {} } }), new NodeSink(req, res));
    });
    if (size === 1) {
      expect((await fetchRaw(url, '/')).text()).toMatch(/^x+\[timed out\]$/);
      await closing;
    } else {
      // A client that does not read, so the socket fills up and writes wait for drain.
      const socket = connect(Number(new URL(url).port), '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      await closing;
      socket.destroy();
    }
    expect(log).toEqual([]);
  });

  it('§9.4 a head coming after someone else answered is dropped, and the connection serves the next request', async () => {
    let closed = 0;
    const app: Application = async (_environ, startResponse) => {
      await new Promise((r) => setTimeout(r, 60));
      startResponse('200 OK', [['content-length', '4']]);
      return Object.assign(['late'], { close: () => void closed++ });
    };
    const log: string[] = [];
    const url = await listen((req, res) => {
      if (req.url === '/next') return void res.end('second');
      setTimeout(() => res.end('[timed out]'), 10); // as a timeout middleware does
      void runApp(app, nodeEnviron(req, res, { errors: { write: (m) => void log.push(m), flush() {} } }), new NodeSink(req, res));
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1').on('data', (data: string) => (received += data));
    socket.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 120)); // past the application's late head
    socket.write('GET /next HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\[timed out\]HTTP\/1\.1 200 OK\r\n[\s\S]*second$/);
    expect([closed, log]).toEqual([1, []]);
  });

  it('§3.7 without a Host, an IPv6 local address is SERVER_NAME in brackets, as in a Host value or a URL', async () => {
    let seen: Environ | undefined;
    const url = await listen((req, res) => {
      // The address a server listening on "::" sees; tests bind to 127.0.0.1 only.
      Object.defineProperty(req.socket, 'localAddress', { value: '::ffff:127.0.0.1', configurable: true });
      seen = nodeEnviron(req, res);
      res.end();
    });
    const { port } = new URL(url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('GET /x HTTP/1.0\r\n\r\n'));
      socket.on('close', () => resolve()).resume();
    });
    expect(seen?.SERVER_NAME).toBe('[::ffff:127.0.0.1]');
    expect(requestUrl(seen!)).toBe(`http://[::ffff:127.0.0.1]:${port}/x`);
  });

  it('§3.7 under fromNodeListener, a request without a Host keeps the outer SERVER_NAME and SERVER_PORT', async () => {
    let seen: Environ | undefined;
    const inner = fromNodeListener((req, res) => {
      seen = nodeEnviron(req, res);
      res.end();
    });
    // An HTTP/1.0 request without Host: SERVER_NAME and SERVER_PORT are the server's address.
    const withoutHost: Application = (environ, startResponse) => {
      const copy = { ...environ };
      delete copy.HTTP_HOST;
      return inner(copy, startResponse);
    };
    await request(withoutHost, { url: 'http://10.1.2.3:8080/x', protocol: 'HTTP/1.0' });
    expect([seen?.SERVER_NAME, seen?.SERVER_PORT, seen?.HTTP_HOST]).toEqual(['10.1.2.3', '8080', undefined]);
  });

  it('§4.6 the ngi.signal of many environs on one response add one close listener to it, not one each', async () => {
    let listeners = -1;
    let signals: AbortSignal[] = [];
    let onClose: Promise<unknown> = Promise.resolve();
    const url = await listen((req, res) => {
      // As a dozen callables mounted in a row in Express or Koa: Node warns past ten listeners.
      const before = res.listenerCount('close');
      signals = Array.from({ length: 12 }, () => nodeEnviron(req, res)['ngi.signal']);
      listeners = res.listenerCount('close') - before;
      onClose = Promise.all(signals.map((signal) => new Promise((resolve) => signal.addEventListener('abort', resolve))));
      res.write('partial');
      req.socket.destroy();
    });
    await fetchRaw(url, '/').catch(() => undefined);
    await onClose;
    expect(listeners).toBe(1);
    expect(signals.every((signal) => signal.aborted)).toBe(true);
  });

  it('§5 the headers are those middleware before left on req.headers: added, changed and removed ones', async () => {
    let seen: Environ | undefined;
    const url = await listen((req, res) => {
      // As an authentication middleware does: the credential checked and dropped, the user named.
      req.headers['x-user'] = 'ada';
      delete req.headers.authorization;
      req.headers.accept = 'text/html';
      seen = nodeEnviron(req, res);
      res.end();
    });
    await fetchRaw(url, '/', { headers: { authorization: 'Bearer secret', accept: 'application/json', 'x-tag': 'a' } });
    expect(seen?.HTTP_AUTHORIZATION).toBeUndefined();
    expect([seen?.HTTP_X_USER, seen?.HTTP_ACCEPT, seen?.HTTP_X_TAG]).toEqual(['ada', 'text/html', 'a']);
  });

  it('§5 headers a middleware replaced whole (`req.headers = {…}`) are the ones the environ has; untouched, those received', async () => {
    const seen: Environ[] = [];
    const url = await listen((req, res) => {
      if (req.url === '/replaced') req.headers = { 'x-user': 'ada', host: 'example.com' };
      seen.push(nodeEnviron(req, res));
      res.end();
    });
    const headers = { authorization: 'Bearer secret', 'x-tag': 'a' };
    await fetchRaw(url, '/replaced', { headers });
    await fetchRaw(url, '/untouched', { headers });
    expect([seen[0]?.HTTP_AUTHORIZATION, seen[0]?.HTTP_X_USER, seen[0]?.HTTP_HOST]).toEqual([undefined, 'ada', 'example.com']);
    expect([seen[1]?.HTTP_AUTHORIZATION, seen[1]?.HTTP_X_USER, seen[1]?.HTTP_X_TAG]).toEqual(['Bearer secret', undefined, 'a']);
  });

  it('refuses a scriptName the path is not under', async () => {
    let failure = '';
    const url = await listen((req, res) => {
      try {
        nodeEnviron(req, res, { scriptName: '/api' });
      } catch (error) {
        failure = String(error);
      }
      res.end();
    });
    await fetchRaw(url, '/apix');
    expect(failure).toContain('not under the mount prefix');
  });
});

/** The CGI keys and carried-on values a listener's `nodeEnviron` produced, as JSON. */
function report(environ: Environ): string {
  const { SCRIPT_NAME, PATH_INFO, QUERY_STRING } = environ;
  return JSON.stringify({ SCRIPT_NAME, PATH_INFO, QUERY_STRING, raw: environ['ngi.raw_path'], multiprocess: environ['ngi.multiprocess'] });
}

describe('nodeEnviron under fromNodeListener: the environ continues the outer one', () => {
  /** The listener's environ, with the outer one marked multiprocess by a middleware. */
  const multiprocess = (app: Application): Application => (environ, startResponse) => app({ ...environ, 'ngi.multiprocess': true }, startResponse);

  it('§3.2 §4.4 §4.5 §4.7 by default: the outer SCRIPT_NAME, raw path, error stream and multiprocess carry on', async () => {
    const listener = fromNodeListener((req, res) => {
      const environ = nodeEnviron(req, res);
      environ['ngi.errors'].write('from the inner environ\n');
      res.setHeader('content-type', 'application/json');
      res.end(report(environ));
    });
    const res = await request(mount({ '/outer': multiprocess(listener) }), { url: '/outer/a%2Fb?q=1' });
    expect(res.json()).toEqual({ SCRIPT_NAME: '/outer', PATH_INFO: '/a/b', QUERY_STRING: 'q=1', raw: '/outer/a%2Fb', multiprocess: true });
    expect(res.errors).toEqual(['from the inner environ\n']);
  });

  it('§14.2 a framework mount point counts from the root: the raw prefix before the target, the outer SCRIPT_NAME before the prefix', async () => {
    const listener = fromNodeListener((req, res) => {
      const original = (req as NgiIncomingMessage)[baseUrlSymbol] + req.url!;
      req.url = req.url!.slice('/mnt'.length); // as koa-mount cuts it
      res.end(report(nodeEnviron(req, res, { target: original, scriptName: '/outer/mnt', errors: { write() {}, flush() {} } })));
    });
    const res = await request(mount({ '/outer': listener }), { url: '/outer/mnt/x%2Fy' });
    expect(res.json()).toEqual({ SCRIPT_NAME: '/outer/mnt', PATH_INFO: '/x/y', QUERY_STRING: '', raw: '/outer/mnt/x%2Fy', multiprocess: false });
  });

  it('§4.7 the raw path stays as received when a middleware outside rewrote PATH_INFO', async () => {
    const listener = fromNodeListener((req, res) => res.end(report(nodeEnviron(req, res))));
    const rewrite: Application = (environ, startResponse) => listener({ ...environ, PATH_INFO: '/new path' }, startResponse);
    const res = await request(mount({ '/outer': rewrite }), { url: '/outer/old' });
    expect(res.json()).toMatchObject({ SCRIPT_NAME: '/outer', PATH_INFO: '/new path', raw: '/outer/old' });
  });

  it('a request served natively has no outer environ: SCRIPT_NAME is "" and the raw path is req.url\'s', async () => {
    let seen = '';
    const url = await listen((req, res) => {
      seen = report(nodeEnviron(req, res));
      res.end();
    });
    await fetchRaw(url, '/a%2Fb?q');
    expect(JSON.parse(seen)).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/a/b', QUERY_STRING: 'q', raw: '/a%2Fb', multiprocess: false });
  });
});

describe('nodeEnviron: the signalSource option', () => {
  it('§4.6 ngi.signal is the source\'s signal, read once, on first use', async () => {
    const controller = new AbortController();
    let reads = 0;
    const source = {
      get signal() {
        reads++;
        return controller.signal;
      },
    };
    let seen: unknown[] = [];
    const url = await listen((req, res) => {
      const environ = nodeEnviron(req, res, { signalSource: source });
      const before = reads;
      seen = [before, environ['ngi.signal'] === controller.signal, environ['ngi.signal'] === controller.signal];
      res.end();
    });
    await fetchRaw(url, '/');
    expect([...seen, reads]).toEqual([0, true, true, 1]);
  });

  it('§4.6 §12.2 without it, the signal comes from the response and stays quiet after a normal end', async () => {
    let signal: AbortSignal | undefined;
    const url = await listen((req, res) => {
      signal = nodeEnviron(req, res)['ngi.signal'];
      res.end('done');
    });
    await fetchRaw(url, '/');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect([signal instanceof AbortSignal, signal?.aborted]).toEqual([true, false]);
  });
});

describe('drainAfterResponse', () => {
  /** A listener that reads `chunks` chunks of the body (none, or one), answers, and drains with `limit`. */
  const reading = (chunks: number, limit: number) => async (req: IncomingMessage, res: ServerResponse) => {
    if (chunks > 0) for await (const _ of nodeEnviron(req, res)['ngi.input']) break; // one chunk, then stop
    drainAfterResponse(req, res, limit);
    res.end('answered');
  };

  it.each([
    ['read a little', 1],
    ['never read', 0],
  ])('§12.3 drains what the application left (%s), so the kept-alive connection serves the next request', async (_label, chunks) => {
    let connections = 0;
    const url = await listen(reading(chunks, 1024 * 1024));
    server!.on('connection', () => connections++);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchRaw(url, '/', { method: 'POST', body: randomBytes(500_000), agent });
      const second = await fetchRaw(url, '/', { agent });
      expect([first.status, second.status, connections]).toEqual([200, 200, 1]);
    } finally {
      agent.destroy();
    }
  });

  it.each([
    ['read a little', 1],
    // Node would read a body nobody read to its end itself, however long, once the response finished.
    ['never read', 0],
  ])('§12.3 past the limit it closes the connection once the response is out (%s)', async (_label, chunks) => {
    const url = new URL(await listen(reading(chunks, 10_000)));
    // 1 kB of a declared 500 kB, then, once the response is in, 100 kB more: a drain without a
    // limit would wait for the rest until a timeout.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`POST / HTTP/1.1\r\nhost: ${url.host}\r\ncontent-length: 500000\r\n\r\n`);
        socket.write(randomBytes(1000));
      });
      let data = '';
      socket.on('data', (chunk) => {
        if (data === '') socket.write(randomBytes(100_000));
        data += chunk;
      });
      socket.on('close', () => resolve(data));
      // Closed while it still sends: a reset.
      socket.on('error', (error: NodeJS.ErrnoException) => error.code !== 'ECONNRESET' && reject(error));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*answered$/);
  }, 5000);
});

describe('parsedBodyInput: a body the framework\'s parser already read', () => {
  async function handOver(headers: Record<string, string>, parsed: ParsedBody, options?: ParsedBodyOptions) {
    const environ = createEnviron({ method: 'POST', headers });
    const input = parsedBodyInput(environ, parsed, options);
    const chunks: Uint8Array[] = [];
    for await (const chunk of input) chunks.push(chunk);
    const { CONTENT_TYPE: type, CONTENT_LENGTH: length, HTTP_TRANSFER_ENCODING: te, HTTP_CONTENT_ENCODING: ce } = environ;
    return { text: Buffer.concat(chunks).toString('utf8'), type, length, te, ce, input };
  }

  const gzipJson = { 'content-type': 'application/json', 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' };

  it('§4.3 hands over raw bytes as they are, with CONTENT_LENGTH for them and no transfer or content coding', async () => {
    const raw = Buffer.from('{ "spaced" :  1 }');
    const seen = await handOver(gzipJson, { body: { spaced: 1 }, rawBody: raw });
    expect(seen).toMatchObject({ text: '{ "spaced" :  1 }', type: 'application/json', length: String(raw.length), te: undefined, ce: undefined });
  });

  it('§4.3 a raw body kept as text (@koa/bodyparser) goes out as UTF-8, and CONTENT_TYPE says so', async () => {
    const seen = await handOver({ 'content-type': 'text/plain; charset=iso-8859-1' }, { rawBody: 'café' });
    expect(seen).toMatchObject({ text: 'café', length: '5', type: 'text/plain; charset=utf-8' });
  });

  it('§4.3 serializes a parsed body again: JSON, +json, forms with repeated and nested keys, strings, Buffers', async () => {
    expect((await handOver({ 'content-type': 'application/json' }, { body: { a: [1, 'two', null] } })).text).toBe('{"a":[1,"two",null]}');
    expect((await handOver({ 'content-type': 'application/ld+json' }, { body: { b: true } })).text).toBe('{"b":true}');
    const form = await handOver({ 'content-type': 'application/x-www-form-urlencoded' }, { body: { a: ['1', '2'], b: { c: 'x y' }, e: '' } });
    expect(form.text).toBe('a=1&a=2&b%5Bc%5D=x+y&e=');
    expect((await handOver({ 'content-type': 'text/plain' }, { body: 'ünï' })).text).toBe('ünï');
    const bytes = await handOver({ 'content-type': 'text/plain; charset=latin1' }, { body: Buffer.from([0xe9, 0x00]) });
    expect([bytes.length, bytes.type]).toEqual(['2', 'text/plain; charset=latin1']);
  });

  it('§4.3 can be read once', async () => {
    const { input } = await handOver({}, { rawBody: Buffer.from('x') });
    await expect(input[Symbol.asyncIterator]().next()).rejects.toThrow(TypeError);
  });

  it('fails the read clearly, never reads as empty, when nothing can be handed over', async () => {
    await expect(handOver({ 'content-type': 'application/x-custom' }, {})).rejects.toThrow(/already read by a body parser and left no body/);
    await expect(handOver({ 'content-type': 'application/x-custom' }, { body: new Map() })).rejects.toThrow(/cannot be turned back into bytes \(Map\)/);
    await expect(handOver({ 'content-type': 'application/json' }, { body: {} }, { mode: 'error' })).rejects.toThrow(/mode "error"/);
  });

  it('the adapter words the error: it is told why and what kind of body was left', async () => {
    const calls: string[] = [];
    const message = (failure: string, kind: string) => (calls.push(`${failure} ${kind}`), `adapter: ${failure}`);
    await expect(handOver({}, { body: null }, { message })).rejects.toThrow('adapter: unserializable');
    await expect(handOver({}, {}, { message })).rejects.toThrow('adapter: missing');
    await expect(handOver({}, { rawBody: Buffer.from('x') }, { mode: 'error', message })).rejects.toThrow('adapter: refused');
    expect(calls).toEqual(['unserializable null', 'missing undefined', 'refused undefined']);
  });
});
