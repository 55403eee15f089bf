import { createServer, type Server, type ServerResponse } from 'node:http';
import { unusedConnections, type NodeListener } from '@ngi/node';
import { listenError } from './_binds.ts';
import type { ServeConfig } from './_config.ts';
import type { Bind } from './_parsers.ts';

/** The HTTP servers of one worker, one per address. */
export interface Listening {
  /** Stops accepting; `graceful` lets in-flight requests finish, `quick` drops them. Resolves when all connections are gone. */
  stop(mode: 'graceful' | 'quick'): Promise<void>;
}

/** Creates and starts one server per bind, with the limits and timeouts of the configuration. */
export async function listen(listenerFor: (bind: Bind) => NodeListener, config: ServeConfig, onRequest: () => void): Promise<Listening> {
  const active = new Set<ServerResponse>();
  let stopping = false;
  const keepAlive = config.keepAlive > 0;
  const handler = (listener: NodeListener) => (req: Parameters<NodeListener>[0], res: ServerResponse): void => {
    // --keep-alive 0 means no keep-alive (Node's 0 would mean "no timeout"); a stopping worker
    // answers with `Connection: close` so the client moves to another worker.
    if (stopping || !keepAlive) res.shouldKeepAlive = false;
    active.add(res);
    res.once('close', () => active.delete(res));
    onRequest();
    listener(req, res);
  };
  const servers = config.binds.map((bind) => {
    const server = makeServer(config, handler(listenerFor(bind)));
    return { bind, server, closeUnused: unusedConnections(server) };
  });
  await Promise.all(servers.map(({ bind, server }) => start(server, bind)));
  return {
    stop(mode) {
      stopping = true;
      for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
      // A turn later: the requests a quick stop dropped see their signal abort and their body
      // closed (§9.4, §12.1) in the callbacks their connections' close left queued.
      return Promise.all(servers.map(({ server, closeUnused }) => stopServer(server, active, mode, closeUnused))).then(() => new Promise((resolve) => setImmediate(resolve)));
    },
  };
}

function makeServer(config: ServeConfig, handle: (req: Parameters<NodeListener>[0], res: ServerResponse) => void): Server {
  // Node refuses a fraction of a millisecond in these (ERR_OUT_OF_RANGE), and seconds may be decimals.
  const requestTimeout = Math.ceil(config.requestTimeout * 1000);
  const headersTimeout = requestTimeout > 0 ? Math.min(60_000, requestTimeout) : 60_000;
  const server = createServer(
    {
      keepAliveTimeout: Math.max(1, Math.ceil(config.keepAlive * 1000)),
      requestTimeout,
      headersTimeout,
      maxHeaderSize: config.maxHeaderSize,
      // Node checks the two timeouts only this often (30 s by default): short limits need a shorter beat.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(Math.min(headersTimeout, requestTimeout || Infinity) / 4))),
    },
    handle,
  );
  // Answer `Expect: 100-continue` only when the application reads the body (§12.4).
  server.on('checkContinue', (req, res) => server.emit('request', req, res));
  // Every header field within maxHeaderSize, as `serve` does: Node keeps the first 1000 by default,
  // and drops the rest, a Content-Length among them.
  server.maxHeadersCount = 0;
  return server;
}

function start(server: Server, bind: Bind): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(listenError(bind, error)));
    const done = (): void => resolve();
    if (bind.kind === 'unix') server.listen(bind.path, done);
    else server.listen(bind.port, bind.host, done);
  });
}

function stopServer(server: Server, active: Set<ServerResponse>, mode: 'graceful' | 'quick', closeUnused: () => void): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if (mode === 'quick') return server.closeAllConnections();
    server.closeIdleConnections();
    closeUnused();
    // A kept-alive connection becomes idle when its response ends: close it then.
    for (const res of active) res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
  });
}
