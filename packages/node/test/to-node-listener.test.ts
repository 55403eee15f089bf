import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttps, request as httpsRequest } from 'node:https';
import { connect as connectHttp2, createSecureServer } from 'node:http2';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { copyEnviron, mount, readBody, validator, type Application, type Environ } from '@ngi/core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { fromNodeListener, hasRequestBody, serve, toNodeListener, unusedConnections } from '../src/index.ts';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { signalInClose } from '../../../test/fixtures/left-early.ts';
import { upload } from '../../../test/fixtures/http2-upload.ts';
import { uploadAfterAnswer } from '../../../test/fixtures/upload-after-answer.ts';

const tls = {
  key: readFileSync(new URL('../../../test/fixtures/localhost-key.pem', import.meta.url)),
  cert: readFileSync(new URL('../../../test/fixtures/localhost-cert.pem', import.meta.url)),
};

const describeEnviron: Application = (environ, startResponse) => {
  const seen = { scheme: environ['ngi.url_scheme'], protocol: environ.SERVER_PROTOCOL, host: environ.HTTP_HOST, path: environ.PATH_INFO, remote: environ.REMOTE_ADDR };
  startResponse('200 OK', [['content-type', 'application/json'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
  return [JSON.stringify(seen)];
};


/** Serves `app`, which answers `ok` after its own checks, for one request to `path`. */
async function answersOk(app: Application, path = '/', init?: RequestInit): Promise<void> {
  const handle = await serve(app, { port: 0 });
  try {
    const res = await fetch(`${handle.url}${path}`, init);
    expect([res.status, await res.text()]).toEqual([200, 'ok']);
  } finally {
    await handle.close();
  }
}

function listen(server: import('node:net').Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Sends raw bytes and collects everything the server answers until it closes or `until` matches. */
function rawExchange(port: number, request: string, until?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk;
      if (until?.test(data)) socket.end();
    });
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('toNodeListener over https and http2', () => {
  it('§4.2 https sets ngi.url_scheme to "https"', async () => {
    const server = createHttps(tls, toNodeListener(describeEnviron));
    const port = await listen(server);
    try {
      const body = await new Promise<string>((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port, path: '/x', rejectUnauthorized: false }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      expect(JSON.parse(body)).toMatchObject({ scheme: 'https', protocol: 'HTTP/1.1', path: '/x' });
    } finally {
      server.close();
    }
  });

  it('§11.2 documented limit: over TLS a body only the close ends (HTTP/1.0) cannot be reset, so it ends as if complete', async () => {
    const server = createHttps(tls, toNodeListener(failsLate, { errors: { write() {}, flush() {} } }));
    const port = await listen(server);
    try {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk));
        socket.on('end', () => resolve(`ended cleanly after ${answer.slice(answer.indexOf('\r\n\r\n') + 4)}`));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      expect(outcome).toBe('ended cleanly after partial');
    } finally {
      server.close();
    }
  });

  it('§3.8 §5.5 http2 compatibility API: HTTP/2, :authority as HTTP_HOST, repeated set-cookie kept', async () => {
    const server = createSecureServer(tls, toNodeListener(describeEnviron));
    const port = await listen(server);
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const stream = client.request({ ':path': '/h2' });
        let headers: Record<string, unknown> = {};
        let body = '';
        stream.on('response', (h) => (headers = h));
        stream.on('data', (c) => (body += c));
        stream.on('end', () => resolve({ headers, body }));
        stream.on('error', reject);
        stream.end();
      });
      expect(headers[':status']).toBe(200);
      expect(headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(JSON.parse(body)).toMatchObject({ scheme: 'https', protocol: 'HTTP/2', host: `127.0.0.1:${port}`, path: '/h2' });
    } finally {
      client.close();
      server.close();
    }
  });
});

/** One HTTP/2 request; `use` gets the client stream (to reset it, say). Resolves with what arrived. */
async function http2Exchange(port: number, path: string | import('node:http2').OutgoingHttpHeaders, use?: (stream: import('node:http2').ClientHttp2Stream) => void) {
  const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  try {
    type Answer = { status: unknown; headers: import('node:http2').IncomingHttpHeaders; body: string; error: string | undefined; rstCode: number | undefined };
    return await new Promise<Answer>((resolve) => {
      const stream = client.request(typeof path === 'string' ? { ':path': path } : path);
      let status: unknown;
      let headers = {};
      let body = '';
      let error: string | undefined;
      stream.on('response', (head) => ((status = head[':status']), (headers = head)));
      stream.on('data', (chunk) => (body += chunk));
      stream.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
      stream.on('close', () => resolve({ status, headers, body, error, rstCode: stream.rstCode }));
      stream.end();
      use?.(stream);
    });
  } finally {
    client.close();
  }
}

describe('toNodeListener over http2: a reset and an error', () => {
  it('§5.5 a Host naming another host than :authority is a 400 without calling the application (RFC 9113 §8.3.1)', async () => {
    let called = 0;
    const server = createSecureServer(tls, toNodeListener((environ, startResponse) => (called++, describeEnviron(environ, startResponse))));
    const port = await listen(server);
    try {
      const other = await http2Exchange(port, { ':path': '/', ':authority': 'good.example', host: 'evil.example' });
      const same = await http2Exchange(port, { ':path': '/', ':authority': 'good.example', host: 'GOOD.example:443' });
      expect([other.status, other.body, same.status, JSON.parse(same.body).host, called]).toEqual([400, 'Bad request: the Host header field names another host than :authority', 200, 'GOOD.example:443', 1]);
    } finally {
      server.close();
    }
  });


  it('§4.6 §12.1 a stream the client resets aborts ngi.signal and stops and closes the body', async () => {
    let closed: () => void;
    const closing = new Promise<void>((resolve) => (closed = resolve));
    let signal: AbortSignal | undefined;
    const app: Application = (environ, startResponse) => {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      const body = (async function* () {
        for (;;) {
          yield 'tick\n';
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      return Object.assign(body, { close: () => closed() });
    };
    const server = createSecureServer(tls, toNodeListener(app));
    const port = await listen(server);
    try {
      await http2Exchange(port, '/', (stream) => stream.once('data', () => stream.close(8 /* CANCEL */)));
      await closing;
      expect(signal?.aborted).toBe(true);
    } finally {
      server.close();
    }
  });

  it('§11.2 an error after the head resets the stream: never a complete-looking response', async () => {
    const server = createSecureServer(tls, toNodeListener(failsLate, { errors: { write() {}, flush() {} } }));
    const port = await listen(server);
    try {
      const answer = await http2Exchange(port, '/');
      expect(answer.body).toBe('partial');
      expect(answer.rstCode).not.toBe(0);
      expect(answer.error).toBe('ERR_HTTP2_STREAM_ERROR');
    } finally {
      server.close();
    }
  });

  it.each([
    ['Node answers it itself', false],
    ['a checkContinue listener leaves it to the application', true],
  ])('§12.4 Expect: 100-continue over HTTP/2 gets one 100 Continue, not a second when the application reads: %s', async (_label, deferred) => {
    const app: Application = async (environ, startResponse) => {
      let length = 0;
      for await (const chunk of environ['ngi.input']) length += chunk.byteLength;
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`read ${length}`];
    };
    const server = createSecureServer(tls, toNodeListener(app));
    if (deferred) server.on('checkContinue', (req, res) => server.emit('request', req, res));
    const port = await listen(server);
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const answer = await new Promise<{ continues: number; body: string }>((resolve, reject) => {
        const stream = client.request({ ':method': 'POST', ':path': '/', expect: '100-continue' }, { endStream: false });
        let continues = 0;
        let body = '';
        stream.on('continue', () => ++continues === 1 && stream.end('hello'));
        stream.on('data', (chunk) => (body += chunk));
        stream.on('end', () => resolve({ continues, body }));
        stream.on('error', reject);
      });
      expect(answer).toEqual({ continues: 1, body: 'read 5' });
    } finally {
      client.close();
      server.close();
    }
  });

  it.each([
    ['a repeated single-value header', '200 OK', [['etag', '"a"'], ['ETag', '"b"']], 'HTTP/2 cannot carry more than one ETag header'],
    ['a connection-specific header', '200 OK', [['proxy-connection', 'keep-alive']], 'HTTP/2 cannot carry the connection-specific header proxy-connection'],
    ['a status past 599', '600 Odd', [], 'HTTP/2 cannot carry the status 600'],
  ] as [string, string, [string, string][], string][])('§11.1 a head HTTP/2 cannot carry (%s) is a 500 without the application\'s headers, the error logged', async (_label, status, extra, message) => {
    const log: string[] = [];
    const app: Application = async (_environ, startResponse) => {
      startResponse(status, [['content-type', 'text/html'], ['set-cookie', 'session=1'], ...extra]);
      return ['<p>hi</p>'];
    };
    const server = createSecureServer(tls, (req, res) => {
      res.setHeader('x-set-before', 'kept');
      res.setHeader('content-type', 'text/csv');
      return toNodeListener(app, { errors: { write: (m) => void log.push(m), flush() {} } })(req, res);
    });
    const port = await listen(server);
    try {
      const answer = await http2Exchange(port, '/');
      expect([answer.status, answer.body]).toEqual([500, 'Internal Server Error']);
      expect([answer.headers['content-type'], answer.headers['set-cookie'], answer.headers['x-set-before']]).toEqual(['text/plain; charset=utf-8', undefined, 'kept']);
      expect(log.join()).toContain(message);
    } finally {
      server.close();
    }
  });

  it.each([
    ['within drainLimit, so the upload completes', 300_000, true, true],
    ['past drainLimit, so that stream alone is closed', 3_000_000, true, false],
    // Drained for good, such a client held the stream, and what the server kept for it, open.
    ['from a client that goes quiet, until that stream alone is closed 5 s later', 80_000, false, false],
  ])('§12.3 what a 413 leaves of an upload without Content-Length is drained once the response is out: %s', async (_label, size, end, uploaded) => {
    const app: Application = async (environ, startResponse) => {
      await readBody(environ, { limit: 50_000 });
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['read'];
    };
    const server = createSecureServer(tls, toNodeListener(app, { drainLimit: 1_000_000, errors: { write() {}, flush() {} } }));
    const port = await listen(server);
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const answer = await upload(client, size, end, 10_000);
      expect(answer).toEqual({ status: 413, body: 'Request body exceeds the limit of 50000 bytes', finished: uploaded, rstCode: 0 });
      // The session serves the next request.
      const next = await new Promise<unknown>((resolve) => client.request({ ':path': '/' }).on('response', (head) => resolve(head[':status'])).end().resume());
      expect(next).toBe(200);
    } finally {
      client.close();
      server.close();
    }
  });

  it.each([
    ['a GET, its stream ended with its headers, has none', 'GET', undefined, 'false '],
    ['a POST with a body has one', 'POST', 'hello', 'true hello'],
    ['a POST that ends its stream in a DATA frame of its own, with nothing in it, has an empty one', 'POST', '', 'true '],
  ])('§4.3 over HTTP/2, with no Content-Length, whether a request has a body: %s', async (_label, method, body, expected) => {
    const app: Application = async (environ, startResponse) => {
      const text = Buffer.from(await readBody(environ)).toString();
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return [`${hasRequestBody(environ)} ${text}`];
    };
    const server = createSecureServer(tls, toNodeListener(app));
    const port = await listen(server);
    const client = connectHttp2(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const stream = client.request({ ':method': method, ':path': '/' }, { endStream: body === undefined });
        if (body !== undefined) stream.end(body);
        let text = '';
        stream.on('data', (chunk) => (text += chunk));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      expect(answer).toBe(expected);
    } finally {
      client.close();
      server.close();
    }
  });

  it('§3.3 raw non-ASCII bytes in :path are a 400, not a path read as Latin-1', async () => {
    let called = false;
    const server = createSecureServer(tls, toNodeListener(() => ((called = true), [])));
    const port = await listen(server);
    try {
      // Node sends the string's characters as Latin-1 bytes: C3 A9 is "é" in UTF-8, unencoded.
      expect((await http2Exchange(port, '/caf\u00c3\u00a9')).status).toBe(400);
      expect(called).toBe(false);
    } finally {
      server.close();
    }
  });
});

describe('toNodeListener request handling', () => {
  it('§6.2 a header value\'s or reason\'s octet past ASCII goes out as that one byte, also with a string body Node sends with the head', async () => {
    const heads: Buffer[] = [];
    const cases = [
      ['200 OK', ['x-l1', 'caf\xe9'], ['he', 'llo']],
      ['200 OK', ['x-l1', 'caf\xe9'], ['hello']],
      ['200 Caf\xe9', ['x-l1', 'ok'], ['hello']],
    ] as const;
    for (const [status, header, body] of cases) {
      const handle = await serve((_environ, startResponse) => (startResponse(status, [[...header], ['content-length', '5']]), [...body]), { port: 0 });
      const wire = await new Promise<Buffer>((resolve) => {
        const client = connectTcp(handle.address.port, '127.0.0.1', () => client.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        const chunks: Buffer[] = [];
        client.on('data', (chunk: Buffer) => chunks.push(chunk));
        client.on('close', () => resolve(Buffer.concat(chunks)));
      });
      await handle.close();
      heads.push(wire.subarray(0, wire.indexOf('\r\n', wire.indexOf('x-l1'))));
      expect(wire.subarray(wire.length - 5).toString()).toBe('hello');
    }
    const line = (text: string) => Buffer.from(text, 'latin1');
    expect(heads.map((head) => [head.subarray(0, head.indexOf('\r\n')), head.subarray(head.lastIndexOf('\r\n') + 2)])).toEqual([
      [line('HTTP/1.1 200 OK'), line('x-l1: caf\xe9')],
      [line('HTTP/1.1 200 OK'), line('x-l1: caf\xe9')],
      [line('HTTP/1.1 200 Caf\xe9'), line('x-l1: ok')],
    ]);
  });

  it('§3.3 answers 400 to a malformed path without calling the app', async () => {
    let called = false;
    const handle = await serve(() => ((called = true), []), { port: 0 });
    try {
      const answer = await rawExchange(handle.address.port, 'GET /a%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('Malformed percent-encoding');
      expect(called).toBe(false);
    } finally {
      await handle.close();
    }
  });

  it('§4.3 ngi.input read after the response was over throws, rather than give a body the drain cut short as complete', async () => {
    let late!: (outcome: string) => void;
    const outcome = new Promise<string>((resolve) => (late = resolve));
    const app: Application = (environ, startResponse) => {
      setTimeout(async () => {
        let received = 0;
        try {
          for await (const chunk of environ['ngi.input']) received += chunk.byteLength;
          late(`ended after ${received} bytes`);
        } catch (error) {
          late(String(error));
        }
      }, 100);
      startResponse('202 Accepted', [['content-type', 'text/plain']]);
      return ['later'];
    };
    const handle = await serve(app, { port: 0 });
    onTestFinished(() => handle.close());
    const client = connectTcp(handle.address.port, '127.0.0.1', () => client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(200)));
    client.on('error', () => {});
    onTestFinished(() => void client.destroy());
    expect(await outcome).toBe('TypeError: §4.3: ngi.input read after the response was over; read the body before answering');
  });

  it('§6.1 a 1xx status is a 500 with the error logged: sent as the answer, it would leave the client waiting for one', async () => {
    const log: string[] = [];
    const errors = { write: (message: string) => void log.push(message), flush() {} };
    const handle = await serve((_environ, startResponse) => (startResponse('103 Early Hints', [['link', '</a.css>; rel=preload']]), []), { port: 0, errors });
    try {
      const answer = await rawExchange(handle.address.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
      expect(answer).not.toContain('103');
      expect(log.join('')).toContain('§6.1: status must look like "200 OK", a code from 200 to 999, got "103 Early Hints"');
    } finally {
      await handle.close();
    }
  });

  it('§12.4 answers Expect: 100-continue only when the app reads the body', async () => {
    const app: Application = async (environ, startResponse) => {
      if (environ.PATH_INFO === '/read') for await (const _ of environ['ngi.input']) void _;
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '2']]);
      return ['ok'];
    };
    const handle = await serve(app, { port: 0 });
    const head = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    try {
      const skipped = await rawExchange(handle.address.port, head('/skip'), /\r\n\r\nok$/);
      expect(skipped).not.toContain('100 Continue');
      expect(skipped).toMatch(/^HTTP\/1\.1 200 OK/);
      const read = await new Promise<string>((resolve) => {
        const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write(head('/read')));
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk;
          if (data === 'HTTP/1.1 100 Continue\r\n\r\n') socket.write('hello');
          if (data.endsWith('ok')) socket.end();
        });
        socket.on('close', () => resolve(data));
      });
      expect(read).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    } finally {
      await handle.close();
    }
  });

  it('§12.4 Expect matches in any letter case, and no 100 Continue follows the head', async () => {
    const app: Application = async (environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'text/plain']]);
      if (environ.PATH_INFO === '/late') await write('started;');
      let size = 0;
      for await (const chunk of environ['ngi.input']) size += chunk.byteLength;
      return [`read ${size}`];
    };
    const handle = await serve(app, { port: 0 });
    const upload = (path: string, sendBodyOn: RegExp) =>
      new Promise<string>((resolve) => {
        const socket = connectTcp(handle.address.port, '127.0.0.1', () =>
          socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-Continue\r\nConnection: close\r\n\r\n`),
        );
        let data = '';
        let sent = false;
        socket.on('data', (chunk) => {
          data += chunk;
          if (!sent && sendBodyOn.test(data)) socket.write('hello', () => (sent = true));
        });
        socket.on('close', () => resolve(data));
      });
    try {
      expect(await upload('/', /100 Continue\r\n\r\n$/)).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK[^]*read 5/);
      const late = await upload('/late', /started;/);
      expect(late).toMatch(/^HTTP\/1\.1 200 OK[^]*started;[^]*read 5/);
      expect(late).not.toContain('100 Continue');
    } finally {
      await handle.close();
    }
  });

  it('§3.7 a Host that is not a host and a port of digits is a 400; "host:" names the default port', async () => {
    const seen: string[] = [];
    const handle = await serve((environ, startResponse) => {
      seen.push(`${environ.SERVER_NAME} ${environ.SERVER_PORT}`);
      startResponse('204 No Content', []);
      return [];
    }, { port: 0 });
    const ask = (host: string) => rawExchange(handle.address.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    try {
      expect(await ask('example.com:abc')).toMatch(/^HTTP\/1\.1 400 [^]*Bad Host header/);
      expect(await ask('bad host/x')).toMatch(/^HTTP\/1\.1 400 [^]*Bad Host header/);
      expect(await ask('example.com:')).toMatch(/^HTTP\/1\.1 204 /);
      expect(await ask('[::1]:8080')).toMatch(/^HTTP\/1\.1 204 /);
      expect(seen).toEqual(['example.com 80', '[::1] 8080']);
    } finally {
      await handle.close();
    }
  });

  it('§3.3 the asterisk form is for OPTIONS only', async () => {
    const handle = await serve((environ, startResponse) => (startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '1']]), [environ.PATH_INFO]), { port: 0 });
    const ask = (method: string) => rawExchange(handle.address.port, `${method} * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    try {
      expect(await ask('OPTIONS')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\n\*$/);
      expect(await ask('GET')).toMatch(/^HTTP\/1\.1 400 /);
    } finally {
      await handle.close();
    }
  });

  it('§3.8 a request line with a version other than 1.0 or 1.1 over HTTP/1 is a 505', async () => {
    let called = false;
    const handle = await serve(() => ((called = true), []), { port: 0 });
    try {
      for (const version of ['HTTP/0.9', 'HTTP/2.0']) {
        expect(await rawExchange(handle.address.port, `GET / ${version}\r\nHost: x\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 505 /);
      }
      expect(called).toBe(false);
    } finally {
      await handle.close();
    }
  });

  it('§7.1 §12.1 a write waiting for room rejects when the client leaves', async () => {
    let settled: (outcome: string) => void;
    const outcome = new Promise<string>((resolve) => (settled = resolve));
    const app: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      const big = new Uint8Array(4 * 1024 * 1024);
      try {
        for (let i = 0; i < 50; i++) await write(big);
        settled('resolved');
      } catch (error) {
        settled(`rejected: ${(error as Error).message}`);
      }
      return [];
    };
    const handle = await serve(app, { port: 0 });
    try {
      const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.pause(); // read nothing: the server's writes wait for room
      socket.once('connect', () => setTimeout(() => socket.destroy(), 100));
      expect(await outcome).toBe('rejected: The client disconnected');
    } finally {
      await handle.close();
    }
  });

  it('§7.1 writes made without awaiting each other wait together: no listener per write on the response', async () => {
    const listeners: number[] = [];
    const app: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      const big = new Uint8Array(256 * 1024);
      const writes = Array.from({ length: 20 }, () => write(big));
      await Promise.all(writes);
      return [];
    };
    const server = createServer((req, res) => {
      toNodeListener(app)(req, res);
      // Node warns past ten listeners of one event on an emitter.
      setTimeout(() => listeners.push(res.listenerCount('drain'), res.listenerCount('close')), 100);
    });
    const port = await listen(server);
    try {
      const received = await new Promise<number>((resolve, reject) => {
        const socket = connectTcp(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        let bytes = 0;
        socket.pause(); // the writes wait for room until the client reads
        setTimeout(() => socket.resume(), 200);
        socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
        socket.on('close', () => resolve(bytes));
        socket.on('error', reject);
      });
      expect(received).toBeGreaterThan(20 * 256 * 1024);
      expect(Math.max(...listeners)).toBeLessThanOrEqual(3);
    } finally {
      server.close();
    }
  });

  it('§10.1 a body short of its Content-Length: what it has goes out, then the connection closes', async () => {
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '10']]);
      return ['short'];
    };
    const handle = await serve(app, { port: 0, errors: { write() {}, flush() {} } });
    try {
      const answer = await rawExchange(handle.address.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*content-length: 10\r\n[^]*\r\n\r\nshort$/);
    } finally {
      await handle.close();
    }
  });

  const listenerFailsLate = fromNodeListener(async (_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.write('partial');
    await new Promise((r) => setTimeout(r, 20));
    throw new Error('late failure');
  });

  it.each([
    ['an application', failsLate],
    ['a listener handed Node\'s own response', listenerFailsLate],
  ])('§11.2 an error after the head of a body only the close ends (HTTP/1.0) resets the connection, a clean close would complete it: %s', async (_label, app) => {
    const handle = await serve(app, { port: 0, errors: { write() {}, flush() {} } });
    try {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
        let head = '';
        socket.on('data', (chunk) => (head += chunk));
        socket.on('end', () => resolve(`ended cleanly after ${JSON.stringify(head)}`));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      expect(outcome).toBe('ECONNRESET');
    } finally {
      await handle.close();
    }
  });

  it('§11.2 an error after the head closes the connection even while the client reads nothing', async () => {
    let failed: () => void;
    const failing = new Promise<void>((resolve) => (failed = resolve));
    const app: Application = async (_environ, startResponse) => {
      const write = startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      write(new Uint8Array(64 * 1024 * 1024)).catch(() => {}); // more than the socket buffers hold
      await new Promise((r) => setTimeout(r, 20));
      failed();
      throw new Error('late failure');
    };
    const server = createServer(toNodeListener(app, { errors: { write() {}, flush() {} } }));
    const port = await listen(server);
    const socket = connectTcp(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.pause();
    try {
      const connections = () => new Promise<number>((resolve) => server.getConnections((_error, count) => resolve(count)));
      await failing;
      // Bounded: a connection held open by the unread bytes never reaches 0.
      for (let i = 0; i < 100 && (await connections()) !== 0; i++) await new Promise((r) => setTimeout(r, 30));
      expect(await connections()).toBe(0);
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it('§2.1 §4.6 the environ is a plain object, passes the validator, and a copy keeps every key and the signal', async () => {
    let seen: Record<string, unknown> = {};
    const app: Application = (environ, startResponse) => {
      const copy = { ...environ };
      seen = {
        proto: Object.getPrototypeOf(environ) === Object.prototype,
        keys: Object.keys(copy).length === Object.keys(environ).length,
        signal: copy['ngi.signal'] instanceof AbortSignal && copy['ngi.signal'] === environ['ngi.signal'],
        enumerable: Object.getOwnPropertyDescriptor(environ, 'ngi.signal')?.enumerable,
      };
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    const handle = await serve(validator(app), { port: 0, errors: { write: (m) => void (seen.error = m), flush() {} } });
    try {
      const res = await fetch(`${handle.url}/a/b?c=d`, { headers: { 'x-one': '1' } });
      expect([res.status, await res.text()]).toEqual([200, 'ok']);
      expect(seen).toEqual({ proto: true, keys: true, signal: true, enumerable: true });
    } finally {
      await handle.close();
    }
  });

  it('§4.6 §13.2 a mounted application\'s copy makes the request\'s one signal on first read, which aborts when the client leaves', async () => {
    let lazy = false;
    let innerSignal: AbortSignal | undefined;
    let outerSignal: AbortSignal | undefined;
    let reason = '';
    const left = new Promise<void>((resolve) => {
      const inner: Application = async function* (environ, startResponse) {
        lazy = typeof Object.getOwnPropertyDescriptor(environ, 'ngi.signal')?.get === 'function';
        innerSignal = environ['ngi.signal'];
        innerSignal.addEventListener('abort', () => ((reason = (innerSignal!.reason as Error).message), resolve()));
        startResponse('200 OK', [['content-type', 'text/plain']]);
        yield 'partial';
        await new Promise(() => {});
      };
      const mounted = mount({ '/m': inner });
      const app: Application = async (environ, startResponse) => {
        const body = await mounted(environ, startResponse);
        outerSignal = environ['ngi.signal'];
        return body;
      };
      const server = createServer(toNodeListener(app));
      void listen(server).then((port) => {
        const socket = connectTcp(port, '127.0.0.1', () => socket.write('GET /m/x HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.once('data', () => (socket.destroy(), server.close()));
      });
    });
    await left;
    expect([lazy, innerSignal === outerSignal, reason]).toEqual([true, true, 'The client disconnected']);
  });

  it('§13.2 copyEnviron copies a server environ as a spread does, keys added and deleted too, without making the signal', async () => {
    const marker = Symbol('marker');
    let seen: unknown[] = [];
    const app: Application = (environ, startResponse) => {
      const changed = environ as Environ & { [marker]?: string };
      changed['myapp.user'] = 'ada';
      changed[marker] = 'kept';
      delete (changed as Partial<Environ>).QUERY_STRING;
      const copy = copyEnviron(changed) as typeof changed;
      const lazy = typeof Object.getOwnPropertyDescriptor(copy, 'ngi.signal')?.get === 'function';
      const spread = { ...changed };
      const values = (environ: Environ) => Object.keys(environ).map((key) => [key, environ[key]]);
      seen = [lazy, copy[marker], values(copy)];
      expect(seen).toEqual([true, 'kept', values(spread)]);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    const handle = await serve(app, { port: 0 });
    try {
      const res = await fetch(`${handle.url}/x?y=1`, { headers: { 'x-one': '1' } });
      expect([res.status, await res.text()]).toEqual([200, 'ok']);
      expect(seen[0]).toBe(true);
    } finally {
      await handle.close();
    }
  });

  it('§13.2 copyEnviron keeps what a spread keeps: changed values in order, and an ngi.signal a middleware put in place', async () => {
    const own = new AbortController().signal;
    let seen: unknown[] = [];
    const app: Application = (environ, startResponse) => {
      const values = (environ: Environ) => Object.keys(environ).map((key) => [key, key === 'ngi.signal' ? typeof environ[key] : environ[key]]);
      environ.PATH_INFO = '/changed';
      environ['myapp.user'] = 'ada';
      const copy = copyEnviron(environ);
      // A middleware's own signal, on a spread copy (which carries the server's symbols) or set on the environ.
      const spread = copyEnviron({ ...environ, 'ngi.signal': own });
      const replaced = copyEnviron(Object.assign(copyEnviron(environ), { 'ngi.signal': own }));
      seen = [values(copy), copy['ngi.signal'] === environ['ngi.signal'], spread['ngi.signal'] === own, replaced['ngi.signal'] === own];
      expect(seen).toEqual([values({ ...environ }), true, true, true]);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    await answersOk(app, '/x?y=1', { headers: { 'x-one': '1' } });
    expect(seen.length).toBe(4);
  });

  it('§13.2 copyEnviron copies the symbols a spread copies, after one was deleted and another added', async () => {
    const user = Symbol('user');
    const hidden = Symbol('hidden');
    let seen: unknown[] = [];
    const app: Application = (environ, startResponse) => {
      const own = Object.getOwnPropertySymbols(environ).find((symbol) => symbol.description === 'ngi.node.signal_source')!;
      delete (environ as unknown as Record<symbol, unknown>)[own];
      (environ as unknown as Record<symbol, unknown>)[user] = 'mine';
      Object.defineProperty(environ, hidden, { value: 'not enumerable', enumerable: false });
      const copy = copyEnviron(environ);
      const names = (environ: object) => Object.getOwnPropertySymbols(environ).map(String);
      seen = [names(copy), (copy as unknown as Record<symbol, unknown>)[user]];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    await answersOk(app);
    expect(seen[1]).toBe('mine');
    expect(new Set(seen[0] as string[])).not.toContain('Symbol(ngi.node.signal_source)');
    expect(new Set(seen[0] as string[])).not.toContain('Symbol(hidden)');
  });

  it('§2.1 the application may change and delete every key, ngi.signal too', async () => {
    const replaced = AbortSignal.abort(new Error('mine'));
    let seen: unknown[] = [];
    const app: Application = (environ, startResponse) => {
      environ['ngi.signal'] = replaced;
      const after = environ['ngi.signal'];
      delete (environ as Partial<Environ>)['ngi.signal'];
      seen = [after === replaced, 'ngi.signal' in environ];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    const handle = await serve(app, { port: 0 });
    try {
      const res = await fetch(`${handle.url}/`);
      expect([res.status, await res.text()]).toEqual([200, 'ok']);
      expect(seen).toEqual([true, false]);
    } finally {
      await handle.close();
    }
  });

  it('§2.1 §4.6 every request gets an environ and a signal of its own, however many come', async () => {
    const environs: Environ[] = [];
    const signals: AbortSignal[] = [];
    const app: Application = (environ, startResponse) => {
      const leaked = Object.keys(environ).filter((key) => key.startsWith('app.'));
      environs.push(environ);
      environ[`app.${environs.length}`] = true;
      const path = environ.PATH_INFO;
      if (path === '/stream') {
        signals.push(environ['ngi.signal']);
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return (async function* () {
          yield 'first';
          await new Promise((resolve) => environ['ngi.signal'].addEventListener('abort', resolve));
        })();
      }
      const text = `${path} ${leaked.length}`;
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', String(text.length)]]);
      return [text];
    };
    const handle = await serve(app, { port: 0 });
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => fetch(`${handle.url}/r${i}`).then((r) => r.text())));
      expect(answers).toEqual(Array.from({ length: 40 }, (_, i) => `/r${i} 0`));
      const streams = [new AbortController(), new AbortController()];
      const bodies = await Promise.all(streams.map(async (c) => (await fetch(`${handle.url}/stream`, { signal: c.signal })).body!.getReader()));
      await Promise.all(bodies.map((reader) => reader.read()));
      expect(signals).toHaveLength(2);
      expect(signals[0]).not.toBe(signals[1]);
      streams[0]!.abort();
      await new Promise((resolve) => signals[0]!.addEventListener('abort', resolve));
      expect(signals.map((s) => s.aborted)).toEqual([true, false]);
      streams[1]!.abort();
      expect(new Set(environs).size).toBe(42);
    } finally {
      await handle.close();
    }
  });

  it('§5 the headers of every request on one connection, as they change from request to request', async () => {
    const app: Application = (environ, startResponse) => {
      const text = JSON.stringify(Object.keys(environ).filter((key) => key.startsWith('HTTP_') || key.startsWith('CONTENT_')).sort().map((key) => [key, environ[key]]));
      startResponse('200 OK', [['content-type', 'application/json'], ['content-length', String(Buffer.byteLength(text))]]);
      return [text];
    };
    const handle = await serve(app, { port: 0 });
    const socket = await new Promise<import('node:net').Socket>((resolve) => {
      const opened = connectTcp(handle.address.port, '127.0.0.1', () => resolve(opened));
    });
    const ask = (headers: string) =>
      new Promise<string[][]>((resolve) => {
        socket.once('data', (chunk) => resolve(JSON.parse(String(chunk).split('\r\n\r\n')[1]!)));
        socket.write(`GET / HTTP/1.1\r\nHost: h\r\n${headers}\r\n`);
      });
    try {
      const asked: [string, string[][]][] = [
        ['A: 1\r\nB: 2\r\n', [['HTTP_A', '1'], ['HTTP_B', '2'], ['HTTP_HOST', 'h']]],
        ['B: 3\r\nA: 4\r\n', [['HTTP_A', '4'], ['HTTP_B', '3'], ['HTTP_HOST', 'h']]],
        ['A: 5\r\n', [['HTTP_A', '5'], ['HTTP_HOST', 'h']]],
        ['A: 6\r\nC: 7\r\na: 8\r\n', [['HTTP_A', '6, 8'], ['HTTP_C', '7'], ['HTTP_HOST', 'h']]],
        ['X_A: 9\r\nX-A: 10\r\nContent-Type: t\r\n', [['CONTENT_TYPE', 't'], ['HTTP_HOST', 'h'], ['HTTP_X_A', '10']]],
        ['X-A: 11\r\nX_A: 12\r\n', [['HTTP_HOST', 'h'], ['HTTP_X_A', '11']]],
        ['', [['HTTP_HOST', 'h']]],
      ];
      for (let round = 0; round < 2; round++) for (const [headers, expected] of asked) expect(await ask(headers)).toEqual(expected);
    } finally {
      socket.destroy();
      await handle.close();
    }
  });

  it('§3.7 §3.9 the peer and the server address of every request, over kept-alive and new connections', async () => {
    const app: Application = (environ, startResponse) => {
      const text = [environ.REMOTE_ADDR, environ.REMOTE_PORT, environ.SERVER_NAME, environ.SERVER_PORT].join(' ');
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', String(text.length)]]);
      return [text];
    };
    const handle = await serve(app, { port: 0 });
    const ask = (socket: import('node:net').Socket, host: string) =>
      new Promise<string>((resolve) => {
        socket.once('data', (chunk) => resolve(String(chunk).split('\r\n\r\n')[1]!));
        socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      });
    const open = () =>
      new Promise<import('node:net').Socket>((resolve) => {
        const socket = connectTcp(handle.address.port, '127.0.0.1', () => resolve(socket));
      });
    try {
      const [first, second] = [await open(), await open()];
      const hosts: [string, string][] = [
        ['example.com', 'example.com 80'],
        ['example.com:8080', 'example.com 8080'],
        ['[::1]', '[::1] 80'],
        ['[::1]:3000', '[::1] 3000'],
      ];
      for (const socket of [first, second, first]) {
        for (const [host, server] of hosts) expect(await ask(socket, host)).toBe(`127.0.0.1 ${socket.localPort} ${server}`);
      }
      first.destroy();
      second.destroy();
    } finally {
      await handle.close();
    }
  });

  it('§4.6 §12.2 the signal stays quiet after a complete streamed response', async () => {
    let signal: AbortSignal | undefined;
    const app: Application = async function* (environ: Environ, startResponse) {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'a';
      yield 'b';
    };
    const handle = await serve(app, { port: 0 });
    try {
      expect(await (await fetch(handle.url)).text()).toBe('ab');
      await new Promise((r) => setTimeout(r, 20));
      expect(signal?.aborted).toBe(false);
    } finally {
      await handle.close();
    }
  });
});

describe('maxBodySize', () => {
  const echoSize: Application = async (environ, startResponse) => {
    let size = 0;
    for await (const chunk of environ['ngi.input']) size += chunk.byteLength;
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return [String(size)];
  };

  it('§4.3 answers 413 to a declared length past the limit without calling the app', async () => {
    let called = false;
    const handle = await serve((e, s) => ((called = true), echoSize(e, s)), { port: 0, maxBodySize: 10 });
    try {
      const answer = await rawExchange(handle.address.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world');
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toContain('Request body exceeds the limit of 10 bytes');
      expect(called).toBe(false);
    } finally {
      await handle.close();
    }
  });

  it('§4.3 fails a chunked body with 413 once it passes the limit, and accepts one within it', async () => {
    const handle = await serve(echoSize, { port: 0, maxBodySize: 10 });
    const chunked = (body: string) => `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    try {
      expect(await rawExchange(handle.address.port, chunked('hello world!'))).toMatch(/^HTTP\/1\.1 413 /);
      const ok = await rawExchange(handle.address.port, chunked('hello'));
      expect(ok).toMatch(/^HTTP\/1\.1 200 /);
      expect(ok).toMatch(/\r\n\r\n(1\r\n)?5/);
    } finally {
      await handle.close();
    }
  });
});

describe('serve', () => {
  it('§12.1 a callable that answers after its client left finds ngi.signal aborted in its close(), under a mount too', async () => {
    const started: { close(): Promise<void> }[] = [];
    onTestFinished(async () => void (await Promise.all(started.map((handle) => handle.close()))));
    const start = async (app: Application) => {
      const handle = await serve(app, { port: 0, errors: { write() {}, flush() {} } });
      started.push(handle);
      return handle;
    };
    expect(await signalInClose(start)).toBe(true);
    expect(await signalInClose((app) => start(mount({ '/in': fromNodeListener(toNodeListener(app)) })), '/in/x')).toBe(true);
  });

  it('closes gracefully: a response given whole, still on its way to a slow client, goes out whole first', async () => {
    const size = 8 * 1024 * 1024;
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-length', String(size)]]);
      return [new Uint8Array(size)];
    };
    const handle = await serve(app, { port: 0 });
    const client = connectTcp(handle.address.port, '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    // The client reads nothing until the server is closing: most of the body is still queued in it.
    client.pause();
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    const ended = new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closed = handle.close();
    client.resume();
    await Promise.all([closed, ended]);
    expect(received).toBeGreaterThan(size);
  });

  it('unusedConnections: an HTTPS server of your own closing lets a queued response reach a slow client whole too', async () => {
    const size = 8 * 1024 * 1024;
    const server = createHttps(tls, toNodeListener((_environ, startResponse) => {
      startResponse('200 OK', [['content-length', String(size)]]);
      return [new Uint8Array(size)];
    }));
    const closeUnused = unusedConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = connectTls({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    );
    client.pause();
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    const ended = new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const closed = new Promise((resolve) => server.close(resolve));
    closeUnused();
    client.resume();
    await Promise.all([closed, ended]);
    expect(received).toBeGreaterThan(size);
  });

  it('closes gracefully: in-flight requests finish, new connections are refused', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const app: Application = async (_environ, startResponse) => {
      await gate;
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['finished'];
    };
    const handle = await serve(app, { port: 0 });
    const inFlight = fetch(handle.url).then(async (r) => [r.headers.get('connection'), await r.text()]);
    await new Promise((r) => setTimeout(r, 30));
    const closed = handle.close();
    expect(handle.close()).toBe(closed); // a second call is the same close, not an error
    await new Promise((r) => setTimeout(r, 30));
    await expect(fetch(handle.url)).rejects.toThrow();
    release();
    // Begun before close(), answered after it: with `Connection: close`, so the client goes elsewhere.
    expect(await inFlight).toEqual(['close', 'finished']);
    await closed;
    expect(handle.server.listening).toBe(false);
    await handle.close();
  });

  it('close() takes a gracefulTimeout longer than a timer can wait for no limit, not for none', async () => {
    const app: Application = async (_environ, startResponse) => {
      await new Promise((r) => setTimeout(r, 200));
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['finished'];
    };
    const handle = await serve(app, { port: 0, gracefulTimeout: 2 ** 31 });
    const inFlight = fetch(handle.url).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50));
    await handle.close();
    expect(await inFlight).toBe('finished');
  });

  it('close() does not wait out gracefulTimeout for a connection that never sent a request (a preconnect)', async () => {
    const handle = await serve(() => [], { port: 0, gracefulTimeout: 60_000 });
    const socket = connectTcp(handle.address.port, '127.0.0.1');
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      await new Promise((r) => setTimeout(r, 20)); // accepted by the server
      const socketClosed = new Promise((resolve) => socket.once('close', () => resolve('socket closed')));
      const outcome = await Promise.race([
        Promise.all([handle.close(), socketClosed]).then(() => 'closed'),
        new Promise((r) => setTimeout(r, 10_000, 'still open after 10 s')),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
    }
  });

  it('close() drops a connection an upgrade listener took over (a WebSocket) after gracefulTimeout, where it waited for ever', async () => {
    const handle = await serve(() => [], { port: 0, gracefulTimeout: 300 });
    handle.server.on('upgrade', (_req, upgraded: import('node:net').Socket) => {
      upgraded.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      upgraded.on('data', () => {});
    });
    const socket = connectTcp(handle.address.port, '127.0.0.1');
    try {
      socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      const socketClosed = new Promise((resolve) => socket.once('close', () => resolve('socket closed')));
      socket.on('error', () => {}); // dropped: a reset
      const outcome = await Promise.race([
        Promise.all([handle.close(), socketClosed]).then(() => 'closed'),
        new Promise((r) => setTimeout(r, 5000, 'still open after 5 s')),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
    }
  });

  it('§12.3 close() does not wait out keepAliveTimeout for a connection draining an unread body', async () => {
    const answersAtOnce: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '4']]);
      return ['done'];
    };
    const handle = await serve(answersAtOnce, { port: 0, keepAliveTimeout: 60_000 });
    const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n${'x'.repeat(10_000)}`));
    // Closed at once: what is sent after may meet a reset.
    socket.on('error', () => {});
    const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    try {
      // The response went out whole; the rest of the body, which the application never read, is on its way.
      await new Promise<void>((resolve) => socket.on('data', (chunk) => String(chunk).endsWith('done') && resolve()));
      const closed = handle.close();
      socket.write('x'.repeat(10_000));
      const outcome = await Promise.race([
        Promise.all([closed, socketClosed]).then(() => 'closed'),
        new Promise((r) => setTimeout(r, 10_000, 'still open after 10 s')),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
      await handle.close();
    }
  });

  it('§12.3 close() closes a connection only draining an unread body at once, not after gracefulTimeout', async () => {
    const answersAtOnce: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '4']]);
      return ['done'];
    };
    const handle = await serve(answersAtOnce, { port: 0, gracefulTimeout: 5000, keepAliveTimeout: 60_000 });
    // 100 of 100,000 bytes, then nothing more: the drain would wait for the rest.
    const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`));
    socket.on('error', () => {});
    const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    try {
      await new Promise<void>((resolve) => socket.on('data', (chunk) => String(chunk).endsWith('done') && resolve()));
      const outcome = await Promise.race([
        Promise.all([handle.close(), socketClosed]).then(() => 'closed'),
        new Promise((r) => setTimeout(r, 2500, 'still open at half gracefulTimeout')),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
      await handle.close();
    }
  });

  it('§12.3 close() lets a client that reads only once its upload is sent have the whole response', async () => {
    const body = Buffer.alloc(100_000, 97);
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', String(body.length)]]);
      return [body];
    };
    const handle = await serve(app, { port: 0 });
    const socket = connectTcp(handle.address.port, '127.0.0.1');
    socket.pause(); // as Python's http.client: the response is read once the body is sent
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40960\r\n\r\n');
    let sent = 0;
    const upload = setInterval(() => {
      socket.write(Buffer.alloc(2048));
      if (++sent === 20) {
        clearInterval(upload);
        socket.resume();
      }
    }, 100);
    await new Promise((r) => setTimeout(r, 150));
    await handle.close();
    await closed;
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe(body.toString());
  });

  it('§12.3 close() waits for a response in flight, then closes its connection at once rather than drain the body it left unread', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const answersLate: Application = async (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        yield 'sta';
        await gate;
        yield 'rted';
      })();
    };
    const handle = await serve(answersLate, { port: 0, gracefulTimeout: 5000, keepAliveTimeout: 60_000 });
    const socket = connectTcp(handle.address.port, '127.0.0.1', () => socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`));
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    const socketClosed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    try {
      await expect.poll(() => received).toContain('sta');
      let closed = false;
      const closing = handle.close().then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 200));
      // The head went out before close(), keeping the connection alive: the response is still awaited.
      expect([closed, handle.server.listening]).toEqual([false, false]);
      release();
      const outcome = await Promise.race([
        Promise.all([closing, socketClosed]).then(() => 'closed'),
        new Promise((r) => setTimeout(r, 2500, 'still open at half gracefulTimeout')),
      ]);
      expect(outcome).toBe('closed');
      expect(received).toMatch(/\r\n\r\n3\r\nsta\r\n4\r\nrted\r\n0\r\n\r\n$/);
    } finally {
      socket.destroy();
      await handle.close();
    }
  });

  it.each([
    ['a callable', ((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '4']]);
      return ['done'];
    }) as Application],
    ['a listener handed Node\'s own request', fromNodeListener((_req, res) => res.end('done'))],
  ])('§12.3 a body %s never read is drained up to drainLimit, past which the connection closes', async (_label, answersAtOnce) => {
    const handle = await serve(answersAtOnce, { port: 0, drainLimit: 10_000, keepAliveTimeout: 60_000 });
    try {
      // Node itself would read the rest of the 50 MB, however long it takes, and keep the connection.
      expect(await uploadAfterAnswer(handle.url)).toBe('HTTP/1.1 200 OK, closed');
    } finally {
      await handle.close();
    }
  });

  it('§12.3 a body a listener handed Node\'s own request reads after its response is not drained from under it', async () => {
    let received = 0;
    let ended!: () => void;
    const done = new Promise<void>((resolve) => (ended = resolve));
    const answersThenReads = fromNodeListener((req, res) => {
      res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted');
      req.on('data', (chunk: Buffer) => (received += chunk.byteLength));
      req.on('end', () => ended());
    });
    const handle = await serve(answersThenReads, { port: 0, drainLimit: 10_000 });
    // Raw bytes: fetch stops sending a body once the response is in.
    const socket = connectTcp(handle.address.port, '127.0.0.1', () => {
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 * 1024 * 1024}\r\n\r\n`);
      socket.write(Buffer.alloc(4 * 1024 * 1024));
    });
    socket.resume();
    // A drain from under the listener would reset the connection, and the listener would wait for ever.
    socket.on('error', () => {});
    try {
      await done;
      expect(received).toBe(4 * 1024 * 1024);
    } finally {
      socket.destroy();
      await handle.close();
    }
  });

  it('§4.3 §5.1 every header field within maxHeaderSize reaches the application, and with them the body they frame', async () => {
    const echo: Application = async (environ, startResponse) => {
      const body = await readBody(environ);
      const text = `${Object.keys(environ).filter((key) => key.startsWith('HTTP_X_')).length} ${environ.CONTENT_LENGTH} ${new TextDecoder().decode(body)}`;
      startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', String(text.length)]]);
      return [text];
    };
    const handle = await serve(echo, { port: 0, maxHeaderSize: 64 * 1024 });
    try {
      // Node's own server keeps the first 1000 fields, so the Content-Length after them would be lost.
      const junk = Array.from({ length: 2000 }, (_, i) => `x-${i}: y\r\n`).join('');
      const answer = await rawExchange(handle.address.port, `POST / HTTP/1.1\r\nHost: x\r\n${junk}Content-Length: 5\r\nConnection: close\r\n\r\nhello`);
      expect(answer).toMatch(/^HTTP\/1\.1 200 [\s\S]*2000 5 hello$/);
    } finally {
      await handle.close();
    }
  });

  it('a short requestTimeout alone is accepted, and short timeouts apply in about their time', async () => {
    const handle = await serve(() => [], { port: 0, requestTimeout: 400 });
    try {
      // A head never finished: Node's own check runs every 30 s unless told to run sooner.
      const answer = await Promise.race([
        rawExchange(handle.address.port, 'GET / HTTP/1.1\r\nHost: x\r\n'),
        new Promise((r) => setTimeout(r, 10_000, 'no answer within 10 s')),
      ]);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await handle.close();
    }
  });

  it.each([
    ['headersTimeout 0', { headersTimeout: 0 }, 30_000],
    ['both 0', { headersTimeout: 0, requestTimeout: 0 }, 30_000],
    ['requestTimeout 0', { requestTimeout: 0 }, 15_000],
    ['requestTimeout 400', { requestTimeout: 400 }, 100],
    // Node takes only a whole number of ms.
    ['requestTimeout 750', { requestTimeout: 750 }, 187],
    ['headersTimeout 201', { headersTimeout: 201 }, 50],
  ])('checks the connections at a quarter of the shortest timeout, in whole ms; a timeout of 0 is none, not the shortest (%s)', async (_label, options, interval) => {
    const handle = await serve(() => [], { port: 0, ...options });
    try {
      // Set from the option of the same name; @types/node does not declare the property.
      expect((handle.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval).toBe(interval);
    } finally {
      await handle.close();
    }
  });

  it.each([
    ['port "80x"', { port: '80x' as unknown as number }, /options\.port must be an integer from 0 to 65535, got "80x"/],
    ['port 70000', { port: 70000 }, /options\.port/],
    // Node takes a host that is not a string for none, and listens on every interface.
    ['host 5', { host: 5 as unknown as string }, /options\.host must be a host name or IP address, got 5/],
    ['host ""', { host: '' }, /options\.host must be a host name or IP address, got ""/],
    ['host "[]"', { host: '[]' }, /options\.host must be a host name or IP address, got "\[\]"/],
    ['gracefulTimeout NaN', { gracefulTimeout: Number.NaN }, /options\.gracefulTimeout must be a number of ms, 0 or more, got NaN/],
    ['gracefulTimeout -5', { gracefulTimeout: -5 }, /options\.gracefulTimeout/],
    // Node's timer would close every idle connection at once.
    ['keepAliveTimeout 2 ** 31', { keepAliveTimeout: 2 ** 31 }, /options\.keepAliveTimeout must be a number of ms from 0 to 2147483647, got 2147483648/],
    ['maxBodySize NaN', { maxBodySize: Number.NaN }, /options\.maxBodySize must be a number of bytes, 0 or more, got NaN/],
    ['drainLimit -1', { drainLimit: -1 }, /options\.drainLimit/],
    // Node's own ERR_OUT_OF_RANGE names neither serve nor the option.
    ['requestTimeout -1', { requestTimeout: -1 }, /serve: options\.requestTimeout must be a whole number of ms, 0 \(no limit\) or more, got -1/],
    ['headersTimeout 1.5', { headersTimeout: 1.5 }, /serve: options\.headersTimeout must be a whole number of ms/],
    ['headersTimeout past requestTimeout', { requestTimeout: 1000, headersTimeout: 2000 }, /serve: options\.headersTimeout \(2000\) cannot be longer than options\.requestTimeout \(1000\)/],
    ['maxHeaderSize Infinity', { maxHeaderSize: Infinity }, /serve: options\.maxHeaderSize must be a whole number of bytes, 1 or more, got Infinity/],
    // console has no flush(): every report would be lost without a word.
    ['errors console', { errors: console as never }, /toNodeListener: options\.errors must be an error stream \{ write\(message\), flush\(\) \} \(§4\.4\)/],
  ])('refuses bad options before listening: %s', async (_label, options, message) => {
    await expect(serve(() => [], { port: 0, ...options })).rejects.toThrow(message);
  });

  it('takes an IPv6 host as a URL writes it, in brackets, and its url has them', async () => {
    const handle = await serve(() => [], { port: 0, host: '[::1]' });
    try {
      expect(handle.address.address).toBe('::1');
      expect(handle.url).toBe(`http://[::1]:${handle.address.port}`);
    } finally {
      await handle.close();
    }
  });

  it('refuses what is not an application', async () => {
    await expect(serve(null as never, { port: 0 })).rejects.toThrow(/expected an NGI application \(a function\), got null/);
    // Named after serve, the function called, and with the arguments the wrong way round, said so.
    await expect(serve({ port: 0 } as never, (() => []) as never)).rejects.toThrow(
      'serve: expected an NGI application (a function), got object; the application goes first: serve(app, options)',
    );
    await expect(serve(() => [], { port: 0, host: 'localhost:3000' })).rejects.toThrow('serve: options.host must not carry a port (give it as options.port), got "localhost:3000"');
    await expect(serve(() => [], { port: 0, host: 'http://localhost' })).rejects.toThrow('serve: options.host must be a host name or IP address, not a URL: give "localhost", got "http://localhost"');
    expect(() => toNodeListener(() => [], (() => []) as never)).toThrow('toNodeListener: options must be an object of named options, got a function');
  });

  it('refuses options that are not an object, as app.listen(3000) takes its port, instead of listening on the default one', async () => {
    await expect(serve(() => [], 3000 as never)).rejects.toThrow('serve: options must be an object of named options, got 3000');
    expect(() => toNodeListener(() => [], '0' as never)).toThrow('toNodeListener: options must be an object of named options, got "0"');
  });

  it('refuses a misspelt option, which would leave its default in place, and a boolean given as a string', async () => {
    await expect(serve(() => [], { port: 0, gracefullTimeout: 1000 } as never)).rejects.toThrow('serve: unknown option "gracefullTimeout" (did you mean "gracefulTimeout"?)');
    expect(() => toNodeListener(() => [], { maxBodySise: 10 } as never)).toThrow('toNodeListener: unknown option "maxBodySise" (did you mean "maxBodySize"?)');
    // Given to serve, the server's own options are not the listener's: none is refused on the way.
    expect(() => toNodeListener(() => [], { port: 0 } as never)).toThrow('toNodeListener: unknown option "port"');
    expect(() => toNodeListener(() => [], { multiprocess: 'false' } as never)).toThrow('toNodeListener: options.multiprocess must be a boolean, got "false"');
    expect(() => fromNodeListener(() => {}, { passon: () => {} } as never)).toThrow('fromNodeListener: unknown option "passon" (did you mean "passOn"?)');
    const server = await serve(() => [], { port: 0, host: '127.0.0.1', gracefulTimeout: 0, keepAliveTimeout: 100, multiprocess: true, drainLimit: 0 });
    await server.close();
  });

  it('fails with the OS error when the port is taken', async () => {
    const first = await serve(() => [], { port: 0 });
    try {
      await expect(serve(() => [], { port: first.address.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
