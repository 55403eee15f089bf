import { isIpAddress } from '@ngi/core';

/** The client's address and port as a fetch runtime reports them (§3.9: `REMOTE_ADDR`, `REMOTE_PORT`). */
export interface Peer {
  address: string;
  port?: number | undefined;
}

/** What finds a request's peer: `toFetch`'s `peer` option; it gets the handler's arguments. */
export type PeerOf = (request: Request, env: unknown, context: unknown) => Peer | undefined;

/** The shapes runtimes hand a fetch handler its peer in, read without trusting any header. */
interface RuntimeArgument {
  /** Deno.serve's handler info: a `Deno.NetAddr`. */
  remoteAddr?: { transport?: unknown; hostname?: unknown; port?: unknown } | null;
  /** Bun's server, the second argument of its `fetch`. */
  requestIP?: (request: Request) => { address?: unknown; port?: unknown } | null;
  stop?: unknown;
  reload?: unknown;
  /** @hono/node-server's `c.env`, which Hono passes on to a mounted handler. */
  incoming?: NodeIncoming | null;
  /** An NGI environ: `fromFetch`'s `c.env`, which Hono passes on to a mounted handler. */
  'ngi.version'?: unknown;
  REMOTE_ADDR?: unknown;
  REMOTE_PORT?: unknown;
}

/** The parts of Node's `IncomingMessage` (or HTTP/2 request) read here. */
interface NodeIncoming {
  socket?: { remoteAddress?: unknown; remotePort?: unknown } | null;
  headers?: Record<string, unknown>;
  httpVersionMajor?: unknown;
  stream?: { endAfterHeaders?: unknown };
}

/** srvx's `request.runtime`: the runtime's own objects behind the request. */
interface SrvxRuntime {
  node?: { req?: RuntimeArgument['incoming'] };
  deno?: { info?: RuntimeArgument };
  bun?: { server?: RuntimeArgument };
}

/**
 * The peer as the runtime reports it, the connection's last hop (§3.9): Deno's `info.remoteAddr`,
 * Bun's `server.requestIP(request)`, the socket of @hono/node-server's `env.incoming` (under
 * Hono), the environ `fromFetch` gives as env, or the same objects in srvx's `request.runtime`; `undefined` where the runtime says
 * nothing (Workers, or srvx's `request.ip` alone, which edge adapters take from a header). What
 * only looks like those objects (a Workers binding of the same name, a getter that throws) is
 * no peer, not a failed request.
 */
export function runtimePeer(request: Request, env: unknown): Peer | undefined {
  try {
    const runtime = (request as { runtime?: SrvxRuntime | null }).runtime;
    return (
      peerIn(env, request) ??
      (typeof runtime === 'object' && runtime !== null
        ? (peerIn(runtime.deno?.info, request) ?? peerIn(runtime.bun?.server, request) ?? peerIn({ incoming: runtime.node?.req }, request))
        : undefined)
    );
  } catch {
    return undefined;
  }
}

function peerIn(argument: unknown, request: Request): Peer | undefined {
  if (typeof argument !== 'object' || argument === null) return undefined;
  const { remoteAddr, requestIP, stop, reload, incoming, 'ngi.version': version, REMOTE_ADDR, REMOTE_PORT } = argument as RuntimeArgument;
  // A Request Hono's mount made anew carries no environ, but the one `fromFetch` gave as env does.
  if (Array.isArray(version)) return peer(REMOTE_ADDR, typeof REMOTE_PORT === 'string' && /^\d+$/.test(REMOTE_PORT) ? Number(REMOTE_PORT) : undefined);
  if (typeof remoteAddr === 'object' && remoteAddr !== null && remoteAddr.transport === 'tcp') return peer(remoteAddr.hostname, remoteAddr.port);
  // A Bun server, not any object with a function of that name (a Workers service binding).
  if (typeof requestIP === 'function' && typeof stop === 'function' && typeof reload === 'function') {
    const info = requestIP.call(argument, request);
    return info == null ? undefined : peer(info.address, info.port);
  }
  const socket = typeof incoming === 'object' && incoming !== null ? incoming.socket : undefined;
  return socket == null ? undefined : peer(socket.remoteAddress, socket.remotePort);
}

function peer(address: unknown, port: unknown): Peer | undefined {
  // What is not an IP address (a Unix socket's path) leaves REMOTE_ADDR absent (§3.9).
  if (typeof address !== 'string' || !isIpAddress(address)) return undefined;
  return { address, port: typeof port === 'number' ? port : undefined };
}


/** A peer from the `peer` option, checked: a TypeError names what is wrong with it. */
export function checkedPeer(found: unknown): Peer | undefined {
  if (found === undefined) return undefined;
  const { address, port } = (found ?? {}) as { address?: unknown; port?: unknown };
  if (typeof address !== 'string' || !isIpAddress(address)) {
    throw new TypeError(`toFetch: options.peer must return { address, port? } with an IP address (IPv6 without brackets), or undefined; got ${JSON.stringify(found)}`);
  }
  if (port !== undefined && !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535)) {
    throw new TypeError(`toFetch: options.peer returned the port ${JSON.stringify(port)}; it must be an integer from 0 to 65535`);
  }
  return { address, port: port as number | undefined };
}

/**
 * Whether the Node request behind `request` (@hono/node-server's `env.incoming`, srvx's
 * `request.runtime.node.req`) came without a body: such a runtime gives every request but GET
 * and HEAD a body stream, empty or not, and an environ must not claim a body the client did not
 * send (§5.1). False where no Node request is found.
 */
export function sentWithoutBody(request: Request, env: unknown): boolean {
  try {
    const incoming = (env as RuntimeArgument | null | undefined)?.incoming ?? (request as { runtime?: SrvxRuntime | null }).runtime?.node?.req;
    if (typeof incoming !== 'object' || incoming === null || typeof incoming.headers !== 'object') return false;
    if (incoming.httpVersionMajor === 2) return incoming.stream?.endAfterHeaders === true;
    return incoming.httpVersionMajor === 1 && incoming.headers['content-length'] === undefined && incoming.headers['transfer-encoding'] === undefined;
  } catch {
    return false;
  }
}
