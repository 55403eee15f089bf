import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Application, ErrorStream } from '@ngi/core';
import type { ConformanceServer } from './suite.ts';

/** The fixture's deliberate failures would fill the test output. */
export const quiet: ErrorStream = { write() {}, flush() {} };

/** A middleware that changes nothing but stands between two ends, forcing the full conversion. */
export const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

/** Serves a Node listener (an Express app, `koa.callback()`) natively on 127.0.0.1. */
export async function listen(listener: RequestListener): Promise<ConformanceServer> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The skip of every configuration with a fetch `Response` in between, whose `Headers` joins repeats (§6.3). */
export const FETCH_JOINS_REPEATS = {
  reason: 'a fetch Response joins repeated fields other than set-cookie into one value, as §6.3 allows such a transport',
  tests: ['§6.3 a repeated response field is sent as one field line each, not folded'],
};
