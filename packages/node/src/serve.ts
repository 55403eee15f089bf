import { createServer, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { checkOptions, notAnApplication, type Application, type OptionTypes } from '@ngi/core';
import { serverClasses } from './_construct.ts';
import { closeDraining } from './node-sink.ts';
import { LISTENER_OPTIONS, handedThrough, toNodeListener, type ToNodeListenerOptions } from './to-node-listener.ts';

/** Options of {@link serve}: the server's own, and those of `toNodeListener`. */
export interface ServeOptions extends ToNodeListenerOptions {
  /** A host name or IP address; an IPv6 address may be in brackets, as in a URL (`[::1]`). @default "127.0.0.1" */
  host?: string | undefined;
  /** 0 lets the operating system choose. @default 8000 */
  port?: number | undefined;
  /** How long an idle keep-alive connection stays open, in ms. @default 5000 */
  keepAliveTimeout?: number | undefined;
  /** The most time to receive a whole request, in ms (408 past it). @default 300000 */
  requestTimeout?: number | undefined;
  /** The most time to receive the request head, in ms. @default 60000, or `requestTimeout` if less */
  headersTimeout?: number | undefined;
  /** The largest request head, in bytes (431 past it). @default 16384 */
  maxHeaderSize?: number | undefined;
  /** How long `close()` waits for in-flight requests before dropping them, in ms (`Infinity`: no limit). @default 30000 */
  gracefulTimeout?: number | undefined;
}

/** A running server. */
export interface ServeHandle {
  /** The `node:http` server. */
  server: Server;
  /** The bound address and port. */
  address: AddressInfo;
  /** `http://host:port` */
  url: string;
  /**
   * Stops accepting, lets in-flight requests finish (up to `gracefulTimeout`), closes idle
   * connections, ends (FIN) one only draining an unread body, and at `gracefulTimeout` drops
   * what is left, upgraded connections too. Calling it again returns the same promise.
   */
  close(): Promise<void>;
}

/**
 * The `IncomingMessage` and `ServerResponse` options for an `http.createServer` that serves
 * `app` through `toNodeListener(app, options)`: when Node's own requests go straight to an
 * Express app (`fromExpress(app)` with nothing in between), classes that make them with the
 * app's prototypes, so Express re-parents nothing (`serve()` uses them); else none.
 */
export function serverClassesFor(app: Application, options: ToNodeListenerOptions = {}): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  const prototypes = handedThrough(app, options)?.prototypes;
  return prototypes === undefined ? {} : serverClasses(prototypes);
}

const SERVE_OPTIONS: OptionTypes = {
  ...LISTENER_OPTIONS,
  host: null,
  port: null,
  keepAliveTimeout: 'number',
  requestTimeout: 'number',
  headersTimeout: 'number',
  maxHeaderSize: 'number',
  gracefulTimeout: null,
};

/**
 * Starts an HTTP server for an application and resolves once it listens. Bad options are a
 * TypeError or RangeError naming them, thrown before anything listens.
 */
export async function serve(app: Application, options: ServeOptions = {}): Promise<ServeHandle> {
  // `serve(app, 3000)`, as `app.listen(3000)`, would listen on the default port.
  const why = notAnApplication(app);
  if (why !== undefined) {
    const swapped = typeof options === 'function' ? '; the application goes first: serve(app, options)' : '';
    throw new TypeError(`serve: expected an NGI application (a function), ${why}${swapped}`);
  }
  checkOptions(options, 'serve', SERVE_OPTIONS);
  const { host: _host, port: _port, keepAliveTimeout: _k, requestTimeout: _r, headersTimeout: _h, maxHeaderSize: _m, gracefulTimeout: _g, ...listenerOptions } = options;
  const listener = toNodeListener(app, listenerOptions);
  const port = portOf(options.port ?? 8000);
  const host = hostOf(options.host ?? '127.0.0.1');
  const gracefulTimeout = options.gracefulTimeout ?? 30_000;
  if (!(gracefulTimeout >= 0)) throw new RangeError(`serve: options.gracefulTimeout must be a number of ms, 0 or more, got ${String(gracefulTimeout)}`);
  const requestTimeout = options.requestTimeout ?? 300_000;
  // As Node's own default: the head cannot take longer than the whole request.
  const headersTimeout = options.headersTimeout ?? (requestTimeout > 0 ? Math.min(60_000, requestTimeout) : 60_000);
  // Node's own ERR_OUT_OF_RANGE would name neither serve nor the option.
  for (const [name, value] of [['requestTimeout', requestTimeout], ['headersTimeout', headersTimeout]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`serve: options.${name} must be a whole number of ms, 0 (no limit) or more, got ${String(value)}`);
  }
  if (requestTimeout > 0 && headersTimeout > requestTimeout) {
    throw new RangeError(`serve: options.headersTimeout (${headersTimeout}) cannot be longer than options.requestTimeout (${requestTimeout}), which the head is part of`);
  }
  const maxHeaderSize = options.maxHeaderSize ?? 16384;
  if (!Number.isSafeInteger(maxHeaderSize) || maxHeaderSize < 1) throw new RangeError(`serve: options.maxHeaderSize must be a whole number of bytes, 1 or more, got ${String(maxHeaderSize)}`);
  const serverOptions: ServerOptions = {
    keepAliveTimeout: keepAliveOf(options.keepAliveTimeout ?? 5000),
    requestTimeout,
    headersTimeout,
    maxHeaderSize,
    // Node checks the two timeouts only this often (30 s by default): short limits need a shorter
    // beat. A timeout of 0 is none, not the shortest.
    connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(Math.min(headersTimeout || Infinity, requestTimeout || Infinity) / 4))),
  };
  Object.assign(serverOptions, serverClassesFor(app, options));
  const active = new Set<ServerResponse>();
  let closing = false;
  const server = createServer(serverOptions, (req, res) => {
    // While closing, answer with `Connection: close` so clients move to another server.
    if (closing) res.shouldKeepAlive = false;
    active.add(res);
    (res as Tracked)[ACTIVE] = active;
    // A named listener, not a function made per request; 'close' comes once, so `on` does.
    res.on('close', forget);
    listener(req, res);
  });
  const connections = trackConnections(server);
  // Node keeps a request's first 1000 header fields by default and drops the rest, a Content-Length
  // it frames the body by among them, so the application would see no body: all of them, within
  // maxHeaderSize.
  server.maxHeadersCount = 0;
  // Answer `Expect: 100-continue` only when the application reads the body (§12.4). A listener
  // handed Node's own request is not told of the expectation: answer it at once, as Node would.
  const handsThrough = handedThrough(app, options) !== undefined;
  server.on('checkContinue', (req, res) => {
    if (handsThrough) res.writeContinue();
    server.emit('request', req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  return {
    server,
    address,
    url: `http://${urlHost}:${address.port}`,
    close: () => {
      closing = true;
      return (closed ??= closeGracefully(server, active, connections, gracefulTimeout));
    },
  };
}

/** A port number, or a string of digits as from an environment variable; a RangeError else (a string would be a pipe's path). */
function portOf(port: number | string): number {
  const number = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > 65535) {
    throw new RangeError(`serve: options.port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  return number;
}

/**
 * A host to listen on, an IPv6 address without the brackets a URL puts it in; a TypeError for
 * what is not a string, or an empty one (an unset HOST variable), which Node would take for no
 * host and listen on every interface.
 */
function hostOf(host: string): string {
  const name = typeof host === 'string' && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`serve: options.host must be a host name or IP address, got ${JSON.stringify(host) ?? String(host)}`);
  }
  // `http://localhost`: a URL, where a host goes.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(name)) throw new TypeError(`serve: options.host must be a host name or IP address, not a URL: give ${JSON.stringify(new URL(name).hostname.replace(/^\[|\]$/g, ''))}, got ${JSON.stringify(host)}`);
  // `localhost:3000`, as in a URL: one colon is no IPv6 address.
  if (name.split(':').length === 2) throw new TypeError(`serve: options.host must not carry a port (give it as options.port), got ${JSON.stringify(host)}`);
  return name;
}

/** `res[ACTIVE]`: the server's set of responses in flight, which `forget` takes `res` out of. */
const ACTIVE = Symbol('ngi.active');
type Tracked = ServerResponse & { [ACTIVE]: Set<ServerResponse> };

function forget(this: Tracked): void {
  this[ACTIVE].delete(this);
}

/**
 * Follows a server's connections; the function returned closes, a second later, those that have
 * not sent a byte by then, for a graceful close: such a connection (a browser's preconnect, a
 * health check's probe) has no request to finish, yet Node counts it as busy, and would keep it
 * until a timeout. Not at once: one accepted just before may have its request on the way, which
 * a reset would lose. One draining a request body after its response (§12.3) it ends at once
 * (a FIN; it closes when the client closes its side), and one whose response is in flight once
 * that response leaves a body to drain: the drain is only there to reuse the connection, yet
 * Node counts it as busy until the client has sent the whole body, if ever.
 */
export function unusedConnections(server: Server): () => void {
  return trackConnections(server).closeUnused;
}

interface Connections {
  closeUnused(): void;
  /**
   * Destroys every connection left: those of requests still running at the graceful timeout,
   * and one an 'upgrade' listener took over (a WebSocket), which Node's `closeAllConnections()`
   * no longer counts as the server's, though `server.close()` waits for it.
   */
  dropAll(): void;
}

function trackConnections(server: Server): Connections {
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  keepUnsent(server);
  const closeUnused = (): void => {
    for (const socket of connections) if (socket.bytesRead === 0) socket.destroy();
  };
  return {
    closeUnused: () => {
      for (const socket of connections) closeDraining(socket);
      setTimeout(closeUnused, UNUSED_GRACE).unref();
    },
    dropAll: () => {
      for (const socket of connections) socket.destroy();
    },
  };
}

/** What Node keeps on a connection's socket: the response in flight on it (`_http_server.js`). */
type ServerSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * Node's `closeIdleConnections()`, which `server.close()` calls, takes a connection whose
 * response has ended for idle though what it wrote may still wait in the socket for a slow
 * client, and destroys it: that client gets the response cut short, a close-delimited one
 * looking complete. Here such a response is left to go out first ('finish'), after which its
 * connection is idle and is closed then.
 */
function keepUnsent(server: Server): void {
  // The sockets responses are written to: over TLS, not those of 'connection'.
  const connections = new Set<ServerSocket>();
  const track = (socket: ServerSocket): void => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  };
  server.on('connection', track).on('secureConnection', track);
  const closeIdle = server.closeIdleConnections;
  const watched = new WeakSet<ServerResponse>();
  server.closeIdleConnections = function (this: Server): void {
    const unsent: ServerResponse[] = [];
    for (const socket of connections) {
      const res = socket._httpMessage;
      if (res == null || !res.writableEnded || res.writableFinished) continue;
      unsent.push(res);
      // What Node's own check reads: an ended response, `finished`, counts as idle.
      res.finished = false;
      if (!watched.has(res)) {
        watched.add(res);
        res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
      }
    }
    try {
      closeIdle.call(this);
    } finally {
      for (const res of unsent) res.finished = true;
    }
  };
}

/** The longest delay a Node timer takes, in ms. */
const MAX_TIMER = 2 ** 31 - 1;

/** Node closes an idle connection with a timer: past its longest delay, it would close at once. */
function keepAliveOf(timeout: number): number {
  if (!(timeout >= 0 && timeout <= MAX_TIMER)) {
    throw new RangeError(`serve: options.keepAliveTimeout must be a number of ms from 0 to ${MAX_TIMER}, got ${String(timeout)}`);
  }
  return timeout;
}

/** How long a graceful close waits for a connection's first byte, in ms. */
const UNUSED_GRACE = 1000;

function closeGracefully(server: Server, active: Set<ServerResponse>, connections: Connections, timeout: number): Promise<void> {
  connections.closeUnused();
  // Responses not yet begun say `Connection: close`, so their clients go elsewhere and their
  // connections close when they finish, even with request bytes still on the way.
  for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
  return new Promise((resolve, reject) => {
    // Past the longest timer, setTimeout fires at once: a wait that long is no limit.
    const timer = timeout > MAX_TIMER ? undefined : setTimeout(() => connections.dropAll(), timeout);
    timer?.unref();
    // A connection whose listener reads the body after its response goes idle with no event to
    // tell once it has (§12.3): without another look it stays open until its keep-alive timeout.
    const recheck = setInterval(() => server.closeIdleConnections(), 100);
    recheck.unref();
    server.close((error) => {
      clearTimeout(timer);
      clearInterval(recheck);
      if (error) reject(error);
      else resolve();
    });
    // A keep-alive connection whose request finishes after this point is idle: close it then.
    for (const res of active) res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
  });
}
