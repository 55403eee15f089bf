import { Socket } from 'node:net';
import { HttpError, type Environ, type HeaderKeys } from '@ngi/core';
import type { NodeRequest } from './_environ.ts';

/**
 * What a connection's requests share: the peer's address and port, as `REMOTE_ADDR` and
 * `REMOTE_PORT` give them (§3.9), and the Host value last seen on it, split.
 */
interface Peer {
  address: string | undefined;
  port: string | undefined;
  host: string | undefined;
  serverName: string;
  serverPort: string;
  headers: HeaderKeys | undefined;
}

const PEER = Symbol('ngi.node.peer');
type PeerSocket = NodeRequest['socket'] & { [PEER]?: Peer };

/**
 * Per connection, on the socket: Node's own getters would cost more, and the port would be
 * turned into a string on every request.
 */
export function peerOf(socket: PeerSocket): Peer {
  return socket[PEER] ?? newPeer(socket);
}

function newPeer(socket: PeerSocket): Peer {
  const port = socket.remotePort;
  const peer: Peer = { address: socket.remoteAddress, port: port === undefined ? undefined : String(port), host: undefined, serverName: '', serverPort: '', headers: undefined };
  // Not before the peer is known (a socket still connecting has none yet), and only for a
  // connection's socket: fromNodeListener makes a socket per request.
  if (peer.address !== undefined && socket instanceof Socket) {
    peer.headers = { names: [], keys: [] };
    socket[PEER] = peer;
  }
  return peer;
}

/** SERVER_NAME/SERVER_PORT from the Host header, else the local address (§3.7). */
export function setServerAddress(environ: Environ, socket: NodeRequest['socket'], peer: Peer): void {
  const host = environ.HTTP_HOST;
  if (host) {
    // A client sends the same Host on every request of a connection.
    if (host !== peer.host) splitHost(peer, host, environ['ngi.url_scheme'] === 'https');
    environ.SERVER_NAME = peer.serverName;
    environ.SERVER_PORT = peer.serverPort;
    return;
  }
  // An IPv6 address in brackets, as in a Host value or a URL (RFC 3986 §3.2.2), so
  // `SERVER_NAME:SERVER_PORT` stays a valid authority.
  const local = socket.localAddress;
  environ.SERVER_NAME = local === undefined ? 'localhost' : local.includes(':') ? `[${local}]` : local;
  environ.SERVER_PORT = String(socket.localPort ?? (environ['ngi.url_scheme'] === 'https' ? 443 : 80));
}

/** A Host value that is not a host and an optional port is a 400 (RFC 9112 §3.2); `host:` names no port (§3.7). */
function splitHost(peer: Peer, host: string, https: boolean): void {
  if (!AUTHORITY.test(host)) throw new HttpError(400, `Bad Host header: ${JSON.stringify(host)}`);
  const colon = portColon(host);
  const port = colon < 0 ? '' : host.slice(colon + 1);
  peer.host = host;
  peer.serverName = colon < 0 ? host : host.slice(0, colon);
  peer.serverPort = port === '' ? (https ? '443' : '80') : port;
}

/** A host (a registered name, an IPv4 address, an IP literal in brackets) and an optional port (RFC 3986 §3.2). */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]*)?$/;

/**
 * Where the `:port` of a Host value starts, or -1 without one: the last colon, unless it sits
 * inside an IPv6 literal's `[…]`. A scan from the end is cheaper than `lastIndexOf`.
 */
function portColon(host: string): number {
  for (let i = host.length - 1; i >= 0; i--) {
    const code = host.charCodeAt(i);
    if (code === 58 /* : */) return i;
    if (code === 93 /* ] */) return -1;
  }
  return -1;
}
