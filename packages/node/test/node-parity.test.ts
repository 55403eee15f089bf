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

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function listen(server: http.Server, scheme: string): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What the scenario's client got from a real server and through the conversion. */
async function onBoth<T>(scenario: Scenario<T>, make = http.createServer, scheme = 'http'): Promise<{ real: T; ngi: T }> {
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
});
