import type { Http2ServerRequest } from 'node:http2';
import { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpError, addRequestHeaders, parseTarget, type Environ, type ErrorStream } from '@ngi/core';
import { RESPONSE, newEnviron, type NodeRequest, type NodeResponse } from './_environ.ts';
import { expectsContinue, hasBody, inputOf, tooLarge } from './_input.ts';
import { peerOf, setServerAddress } from './_peer.ts';

/** What environFrom needs beyond the request. */
export interface EnvironOptions {
  errors: ErrorStream;
  multiprocess: boolean;
  /** The largest request body accepted; past it, reading ngi.input throws an HttpError 413 (§11.1). */
  maxBodySize: number;
  /** The full request target, when a framework has already cut `req.url` down. */
  target?: string | undefined;
  /** The decoded mount prefix that becomes `SCRIPT_NAME`; the target's path starts with it. */
  scriptName?: string | undefined;
  /**
   * The headers as middleware before left them (added, changed, removed), for adapters inside
   * a framework; without it, the headers as received (`req.rawHeaders`).
   */
  headers?: NodeRequest['headers'] | undefined;
}

/** The environ of §2–§5 for a Node request. Throws an HttpError 400 for a malformed target. */
export function environFrom(req: NodeRequest, res: NodeResponse, options: EnvironOptions): Environ {
  const target = parseTarget(options.target ?? req.url ?? '/');
  // The asterisk form is for OPTIONS only (RFC 9112 §3.2.4; §3.3).
  if (target.rawPath === '*' && req.method !== 'OPTIONS') throw new HttpError(400, `Bad request target "*" for ${req.method}`);
  const scriptName = options.scriptName ?? '';
  const socket = req.socket;
  const environ = newEnviron();
  environ.REQUEST_METHOD = req.method ?? 'GET';
  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = scriptName === '' ? target.path : pathUnder(target.path, scriptName);
  environ.QUERY_STRING = target.query;
  environ.SERVER_PROTOCOL = protocolOf(req);
  environ['ngi.url_scheme'] = (socket as TLSSocket).encrypted ? 'https' : 'http';
  environ['ngi.errors'] = options.errors;
  environ['ngi.multiprocess'] = options.multiprocess;
  environ['ngi.raw_path'] = target.rawPath;
  environ[RESPONSE] = res;
  const peer = peerOf(socket);
  if (peer.address !== undefined) environ.REMOTE_ADDR = peer.address;
  if (peer.port !== undefined) environ.REMOTE_PORT = peer.port;
  // Headers come from rawHeaders where nothing ran before. A connection's names repeat in the
  // same order either way, so their keys are remembered per connection.
  addRequestHeaders(environ, options.headers === undefined ? req.rawHeaders : headerList(options.headers), peer.headers);
  if (hasBody(environ, req)) {
    if (Number(environ.CONTENT_LENGTH) > options.maxBodySize) throw tooLarge(options.maxBodySize);
    environ['ngi.input'] = inputOf(req, res, expectsContinue(environ.HTTP_EXPECT), options.maxBodySize);
  }
  setServerAddress(environ, socket, peer);
  return environ;
}

/** `req.headers` as a raw `[name, value, …]` list; Node has joined repeats already. */
function headerList(headers: NodeRequest['headers']): string[] {
  const list: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string') list.push(name, value);
    else if (value !== undefined) for (const item of value) list.push(name, item);
  }
  return list;
}

/**
 * §3.8's three versions. HTTP/1's parser also takes `HTTP/0.9` or `HTTP/2.0` request lines: a
 * 505. HTTP/2 is Node's HTTP/2 request, or `fromNodeListener`'s for an HTTP/2 environ (no wire).
 */
function protocolOf(req: NodeRequest): string {
  const version = req.httpVersion;
  if (version === '1.1') return 'HTTP/1.1';
  if (version === '1.0') return 'HTTP/1.0';
  if (version === '2.0' && ((req as Http2ServerRequest).stream !== undefined || !(req.socket instanceof Socket))) return 'HTTP/2';
  throw new HttpError(505, `HTTP version ${JSON.stringify(version)} is not supported`);
}

/**
 * A mount prefix a URL parser would read otherwise than as a path, were it put in a Location:
 * `//` (`///evil.example` is a host to a browser), a `\` (`/\evil.example` likewise), a control
 * character (a tab is stripped), or a `.` or `..` segment. proxyFix takes no such prefix either.
 */
const NOT_NORMAL = /\/\/|[\\\x00-\x1f\x7f]|(?:^|\/)\.\.?(?:\/|$)/;

/** The rest of `path` under the mount prefix `scriptName` (§3.4); a TypeError if it is not under it. */
function pathUnder(path: string, scriptName: string): string {
  // A prefix a framework matched with a parameter decodes from the client's path (`/t/:tenant`
  // and `/t/%2F%2Fevil.example/x`): SCRIPT_NAME, which applications build links from, stays a path.
  if (NOT_NORMAL.test(scriptName)) throw new HttpError(400, `Bad request: the mount prefix ${JSON.stringify(scriptName)} is not a path in normal form`);
  const rest = path.slice(scriptName.length);
  if (path.startsWith(scriptName) && (rest === '' || rest.charCodeAt(0) === 47)) return rest;
  // Said for the two likely slips of an adapter: a prefix ending in `/`, and a path a framework cut.
  const why = scriptName.endsWith('/') ? ': a mount prefix does not end with "/" (§3.2)' : '; give the full request target as options.target where a framework has cut req.url';
  throw new TypeError(`the request path ${JSON.stringify(path)} is not under the mount prefix ${JSON.stringify(scriptName)}${why}`);
}
