import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Application } from '@ngi/core';
import { fromNodeListener } from '../src/from-node-listener.ts';
import { toNodeListener } from '../src/to-node-listener.ts';

// The same listener on a real node:http (or node:https) server and through the full
// conversion, toNodeListener(through(fromNodeListener(listener))): what it sees and does must
// not differ.

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;
/** One run: a fresh listener and the client that exercises it, sharing what they need. */
type Scenario<T> = () => { listener: Listener; client: (url: string) => Promise<T> };

const tls = {
  key: readFileSync(new URL('../../../test/fixtures/localhost-key.pem', import.meta.url)),
  cert: readFileSync(new URL('../../../test/fixtures/localhost-cert.pem', import.meta.url)),
};

/** A middleware in between, so the listener gets the synthetic req and res, not Node's own. */
const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);
const errors = { write() {}, flush() {} };

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    (server as http.Server).closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function listen(server: http.Server, scheme: string): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What the scenario's client got from a real server and through the conversion. */
async function onBoth<T>(scenario: Scenario<T>, make: (listener: http.RequestListener) => http.Server = http.createServer, scheme = 'http'): Promise<{ real: T; ngi: T }> {
  const real = scenario();
  const ngi = scenario();
  const converted = toNodeListener(through(fromNodeListener(ngi.listener)), { errors }) as http.RequestListener;
  return {
    real: await real.client(await listen(make(real.listener as http.RequestListener), scheme)),
    ngi: await ngi.client(await listen(make(converted), scheme)),
  };
}

/** fetch, given up after two seconds (a head that never comes): `undefined` then. */
async function fetchHead(url: string): Promise<Response | undefined> {
  return fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
}

describe('a Node listener through fromNodeListener, as on a real server', () => {
  it('writeHead with a flat header list of odd length throws ERR_INVALID_ARG_VALUE; the listener answers on', async () => {
    const { real, ngi } = await onBoth(() => ({
      listener(_req, res) {
        let code: unknown;
        try {
          res.writeHead(200, ['x-a', 'b', 'x-c']);
        } catch (error) {
          code = (error as { code?: unknown }).code;
        }
        res.writeHead(200, ['content-type', 'text/plain']);
        res.end(String(code));
      },
      client: async (url: string) => {
        const res = await fetch(url);
        return [res.status, res.headers.get('x-a'), await res.text()];
      },
    }));
    expect(ngi).toEqual(real);
    expect(real).toEqual([200, null, 'ERR_INVALID_ARG_VALUE']);
  });

  it("writeHead checks the names and values it is given with Node's error codes; the listener answers on", async () => {
    const bad: unknown[] = [
      { 'x-a': 'a\r\nb' },
      { 'x a': 'b' },
      { 'x-a': undefined },
      { 'x-a': ['a', undefined] },
      { connection: 'close\r\nx-b: c' },
      ['x-a', 'a\nb'],
      [['x a', 'b']],
    ];
    const { real, ngi } = await onBoth(() => ({
      listener(_req, res) {
        const codes = bad.map((headers) => {
          try {
            res.writeHead(200, headers as http.OutgoingHttpHeaders);
            return 'accepted';
          } catch (error) {
            return `${(error as Error).name} ${(error as { code?: unknown }).code}`;
          }
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(codes));
      },
      client: async (url: string) => {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        return [res.status, res.headers.get('x-a'), await res.json()];
      },
    }));
    expect(real).toEqual([
      200,
      null,
      [
        'TypeError ERR_INVALID_CHAR',
        'TypeError ERR_INVALID_HTTP_TOKEN',
        'TypeError ERR_HTTP_INVALID_HEADER_VALUE',
        'TypeError ERR_HTTP_INVALID_HEADER_VALUE',
        'TypeError ERR_INVALID_CHAR',
        'TypeError ERR_INVALID_CHAR',
        'TypeError ERR_INVALID_HTTP_TOKEN',
      ],
    ]);
    expect(ngi).toEqual(real);
  });

  it("the reason phrase is the one writeHead gives, even empty, and Node's own 'unknown' for a code without one", async () => {
    const { real, ngi } = await onBoth(() => ({
      listener(req, res) {
        if (req.url === '/999') res.writeHead(999).end();
        else if (req.url === '/empty') res.writeHead(200, '').end();
        else ((res.statusCode = 599), res.end());
      },
      client: (url) =>
        Promise.all(
          ['/999', '/empty', '/599'].map(async (path) => {
            const res = await fetch(url + path, { signal: AbortSignal.timeout(2000) });
            return `${res.status} ${res.statusText}`;
          }),
        ),
    }));
    expect(real).toEqual(['999 unknown', '200 ', '599 unknown']);
    expect(ngi).toEqual(real);
  });

  it("res.write('') sends the head at once, as flushHeaders() does (§8.3)", async () => {
    const { real, ngi } = await onBoth(() => {
      const headSeen = deferred();
      return {
        listener(_req, res) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('');
          void headSeen.promise.then(() => res.end('data: 1\n\n'));
        },
        async client(url) {
          const res = await fetchHead(url);
          headSeen.resolve();
          return res === undefined ? 'no head before the body' : [res.headers.get('content-type'), await res.text()];
        },
      };
    });
    expect(real).toEqual(['text/event-stream', 'data: 1\n\n']);
    expect(ngi).toEqual(real);
  });

  describe('req.socket counts the bytes of the body, as loggers and metrics read them', () => {
    // A real socket counts the head too, which through NGI the server writes: counted from after it.
    it('bytesWritten grows by each body write as encoded, at once', async () => {
      const { real, ngi } = await onBoth(() => {
        const counted = deferred<number[]>();
        return {
          listener(req, res) {
            const socket = req.socket;
            res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '12' }).flushHeaders();
            const head = socket.bytesWritten;
            res.write('héllo');
            const first = socket.bytesWritten - head;
            res.end(Buffer.from('wörld'), () => counted.resolve([first, socket.bytesWritten - head]));
          },
          async client(url) {
            const text = await (await fetch(url, { signal: AbortSignal.timeout(2000) })).text();
            return [text, await counted.promise];
          },
        };
      });
      expect(real).toEqual(['héllowörld', [6, 12]]);
      expect(ngi).toEqual(real);
    });

    it('bytesRead grows by the request body as it arrives', async () => {
      const { real, ngi } = await onBoth(() => {
        const started = deferred();
        return {
          listener(req, res) {
            const head = req.socket.bytesRead;
            let read = 0;
            req.on('data', (chunk: Buffer) => (read += chunk.length));
            req.on('end', () => res.end(JSON.stringify([read, req.socket.bytesRead - head])));
            started.resolve();
          },
          client: (url) =>
            new Promise((resolve, reject) => {
              const request = http.request(url, { method: 'POST', headers: { 'content-length': '1000' }, timeout: 2000 }, (res) => {
                let body = '';
                res.setEncoding('utf8').on('data', (part: string) => (body += part));
                res.on('end', () => resolve(JSON.parse(body)));
              });
              request.on('timeout', () => request.destroy(new Error('no answer')));
              request.on('error', reject);
              // The body follows once the listener runs, so a real socket has read only the head by then.
              request.flushHeaders();
              void started.promise.then(() => request.end('x'.repeat(1000)));
            }),
        };
      });
      expect(real).toEqual([1000, 1000]);
      expect(ngi).toEqual(real);
    });
  });

  describe('req.socket carries the TLS details of an https connection', () => {
    /** What a listener checking the client's certificate sees. */
    function describeTls(req: IncomingMessage, res: ServerResponse): void {
      const socket = req.socket as TLSSocket;
      const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const seen = {
        encrypted: socket.encrypted ?? 'absent',
        authorized: socket.authorized ?? 'absent',
        peer: cert === undefined ? 'no getPeerCertificate' : (cert.subject?.CN ?? Object.keys(cert).length),
        protocol: typeof socket.getProtocol === 'function' ? socket.getProtocol() : 'no getProtocol',
        servername: socket.servername ?? 'absent',
        alpn: socket.alpnProtocol ?? 'absent',
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    }

    function get(url: string, options: https.RequestOptions): Promise<unknown> {
      return new Promise((resolve, reject) => {
        const request = https.get(url, { ...options, ca: tls.cert, agent: false, timeout: 2000 }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (part: string) => (body += part));
          res.on('end', () => resolve(JSON.parse(body)));
        });
        request.on('timeout', () => request.destroy(new Error('no answer')));
        request.on('error', reject);
      });
    }

    const httpsServer = (listener: http.RequestListener): http.Server =>
      https.createServer({ ...tls, requestCert: true, rejectUnauthorized: false, ca: tls.cert }, listener);

    it('a client certificate the server verified: authorized, getPeerCertificate(), getProtocol()', async () => {
      const { real, ngi } = await onBoth(() => ({ listener: describeTls, client: (url) => get(url, { ...tls, servername: 'localhost' }) }), httpsServer, 'https');
      expect(real).toMatchObject({ encrypted: true, authorized: true, peer: 'localhost', protocol: expect.stringMatching(/^TLS/), servername: 'localhost', alpn: false });
      expect(ngi).toEqual(real);
    });

    it('no client certificate: not authorized, an empty certificate', async () => {
      const { real, ngi } = await onBoth(() => ({ listener: describeTls, client: (url) => get(url, {}) }), httpsServer, 'https');
      expect(real).toMatchObject({ encrypted: true, authorized: false, peer: 0, protocol: expect.stringMatching(/^TLS/), servername: false });
      expect(ngi).toEqual(real);
    });

    it('plain http: none of them', async () => {
      const { real, ngi } = await onBoth(() => ({
        listener: describeTls,
        client: async (url) => (await fetch(url, { signal: AbortSignal.timeout(2000) })).json(),
      }));
      expect(real).toEqual({ encrypted: 'absent', authorized: 'absent', peer: 'no getPeerCertificate', protocol: 'no getProtocol', servername: 'absent', alpn: 'absent' });
      expect(ngi).toEqual(real);
    });
  });

  describe('timeouts', () => {
    /** Runs `listener` with a log; the client's answer (or its failure) and the log once res has closed. */
    function logged(listener: (req: IncomingMessage, res: ServerResponse, log: string[]) => void): Scenario<unknown> {
      return () => {
        const log: string[] = [];
        const closed = deferred();
        return {
          listener(req, res) {
            res.on('close', () => closed.resolve());
            listener(req, res, log);
          },
          async client(url) {
            const answer = await fetch(url, { signal: AbortSignal.timeout(2000) }).then((res) => res.text(), () => 'no answer');
            await closed.promise;
            return [answer === 'no answer' || answer === 'Internal Server Error' ? 'failed' : answer, log];
          },
        };
      };
    }

    it("socket.setTimeout() with only the socket's own listener closes the connection, before that listener runs", async () => {
      const { real, ngi } = await onBoth(
        logged((req, res, log) => {
          req.socket.setTimeout(20, () => {
            log.push(`socket timeout, destroyed: ${req.socket.destroyed}`);
            if (!res.destroyed) res.end('kept open');
          });
        }),
      );
      expect(real).toEqual(['failed', ['socket timeout, destroyed: true']]);
      expect(ngi).toEqual(real);
    });

    it('req.setTimeout() on a request without a body: req is complete, so its callback never runs and the connection closes', async () => {
      const { real, ngi } = await onBoth(
        logged((req, _res, log) => {
          req.setTimeout(20, () => log.push('req timeout'));
        }),
      );
      expect(real).toEqual(['failed', []]);
      expect(ngi).toEqual(real);
    });

    it('socket.timeout is what setTimeout() set', async () => {
      const { real, ngi } = await onBoth(() => ({
        listener(req, res) {
          res.setTimeout(1234);
          const after = (req.socket as { timeout?: number }).timeout;
          res.setTimeout(0);
          res.end(JSON.stringify([after, (req.socket as { timeout?: number }).timeout]));
        },
        client: async (url) => (await fetch(url, { signal: AbortSignal.timeout(2000) })).json(),
      }));
      expect(real).toEqual([1234, 0]);
      expect(ngi).toEqual(real);
    });
  });

  describe('the request', () => {
    it("req.socket's local end is the connection's: localAddress, localFamily, localPort, address()", async () => {
      const { real, ngi } = await onBoth(() => ({
        listener(req, res) {
          const socket = req.socket;
          const port = Number(new URL(`http://${req.headers.host}`).port);
          const { address, family, port: addressPort } = socket.address() as AddressInfo;
          res.end(JSON.stringify([socket.localAddress, socket.localFamily, socket.localPort === port, address, family, addressPort === port]));
        },
        client: async (url) => (await fetch(url, { signal: AbortSignal.timeout(2000) })).json(),
      }));
      expect(real).toEqual(['127.0.0.1', 'IPv4', true, '127.0.0.1', 'IPv4', true]);
      expect(ngi).toEqual(real);
    });

    it("a listener that stops reading and answers (Fastify past its bodyLimit) does not see the request aborted", async () => {
      const { real, ngi } = await onBoth(() => {
        const seen: string[] = [];
        const closed = deferred();
        return {
          listener(req, res) {
            req.on('aborted', () => seen.push('aborted'));
            req.on('close', () => {
              seen.push(`close, aborted ${req.aborted}`);
              closed.resolve();
            });
            const onData = (): void => {
              req.removeListener('data', onData);
              res.writeHead(413, { 'content-type': 'text/plain' }).end('too large');
            };
            req.on('data', onData);
          },
          client: (url) =>
            new Promise((resolve, reject) => {
              const request = http.request(url, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
                res.resume();
                res.on('end', () => {
                  // The rest of the body comes after the response, as from a client that did not wait.
                  request.end('y'.repeat(1000));
                  const settle = (): void => resolve([res.statusCode, ...seen]);
                  void closed.promise.then(settle);
                  setTimeout(settle, 1000);
                });
              });
              request.on('error', reject);
              request.write('x'.repeat(1000));
            }),
        };
      });
      expect(real).toEqual([413, 'close, aborted false']);
      expect(ngi).toEqual(real);
    });

    // [complete in the listener; complete and readableEnded a turn later; complete, aborted, destroyed at 'end']
    it.each([
      ['without a body is complete once the listener has returned, its end still to be read', undefined, [false, true, false, true, false, false]],
      ['with a body is complete once it has been read', 'x'.repeat(100_000), [false, false, false, true, false, false]],
    ])('a request %s', async (_title, body, expected) => {
      const { real, ngi } = await onBoth(() => ({
        listener(req, res) {
          const during = req.complete;
          setImmediate(() => {
            const after = [req.complete, req.readableEnded];
            req.on('end', () => res.end(JSON.stringify([during, ...after, req.complete, req.aborted, req.destroyed])));
            req.resume();
          });
        },
        client: async (url) => (await fetch(url, { ...(body === undefined ? {} : { method: 'POST', body }), signal: AbortSignal.timeout(2000) })).json(),
      }));
      expect(real).toEqual(expected);
      expect(ngi).toEqual(real);
    });
  });
});
