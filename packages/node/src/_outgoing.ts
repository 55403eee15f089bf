import { type IncomingMessage, ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import { inspect } from 'node:util';
import { HOP_BY_HOP, type HeaderList } from '@ngi/core';
import { construct } from './_construct.ts';
import type { NgiSocket } from './_socket.ts';

/** Where a synthetic response hands its head and body (the exchange that owns the socket). */
export interface ResponseOwner {
  /** The head is known. Throws what `startResponse` throws, out of the listener's `writeHead`. */
  head(status: string, headers: HeaderList): void;
  /** Body bytes, as Node hands them to its socket; `false` asks the writer to wait for 'drain'. */
  writeRaw(data: string | Uint8Array, encoding: BufferEncoding | null, callback: (() => void) | null): boolean;
  /** `res.end()` was called: nothing more will be written. */
  ended(): void;
  /** `res.flushHeaders()`: send the head now, before any body byte. */
  flush(): void;
}

type RawHeaders = Record<string, unknown> | unknown[];

/** Node's own, undocumented members this module overrides or reads (lib/_http_outgoing.js). */
interface ResponseInternals extends ServerResponse {
  _header: string | null;
  _headerSent: boolean;
  _hasBody: boolean;
  _contentLength: number | null;
  _removedContLen: boolean;
  _storeHeader(firstLine: string, headers: RawHeaders | null | undefined): void;
  _writeRaw(data: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean;
  _finish(): void;
  _implicitHeader(): void;
}

// Node < 22 loses duplicates from a raw-array writeHead() once setHeader() was used
// (nodejs/node#50387, srvx#144); Node 22 merges them (nodejs/node#50394). Do the same here.
const MERGE_RAW_HEADERS = Number(process.versions.node.split('.')[0]) < 22;

let kOutHeaders: symbol | undefined;
let kNeedDrain: symbol | undefined;

/**
 * A real `ServerResponse` for `req` on `socket`. Overrides are set on the instance, never on a
 * prototype, so they survive Express re-parenting `res` to `app.response`: the head is captured
 * as data at `_storeHeader` (never serialized and parsed back), body bytes go to the owner at
 * `_writeRaw` unframed (no chunked encoding: srvx#248), and `end()` is seen at `_finish`.
 * With `proto` (inheriting from `ServerResponse.prototype`), it is made with that prototype.
 */
export function createOutgoing(req: IncomingMessage, socket: NgiSocket, proto?: object): ServerResponse {
  const res = construct(ServerResponse, proto, req) as ResponseInternals;
  if (kOutHeaders === undefined) findSymbols(res);
  res.useChunkedEncodingByDefault = false;
  res._storeHeader = storeHeader;
  res._writeRaw = writeRaw;
  res._finish = finish;
  res.flushHeaders = flushHeaders;
  if (MERGE_RAW_HEADERS) (res as ServerResponse).writeHead = writeHead as ServerResponse['writeHead'];
  res.assignSocket(socket as unknown as Socket);
  return res;
}

/** Clears Node's "a write returned false" flag before the owner emits 'drain' (as socketOnDrain does). */
export function clearNeedDrain(res: ServerResponse): void {
  if (kNeedDrain !== undefined) (res as unknown as Record<symbol, boolean>)[kNeedDrain] = false;
}

function findSymbols(res: ServerResponse): void {
  for (const symbol of Object.getOwnPropertySymbols(res)) {
    if (symbol.description === 'kOutHeaders') kOutHeaders = symbol;
    else if (symbol.description === 'kNeedDrain') kNeedDrain = symbol;
  }
}

function ownerOf(res: ServerResponse): ResponseOwner {
  return (res.socket as unknown as { owner: ResponseOwner }).owner;
}

function storeHeader(this: ResponseInternals, firstLine: string, headers: RawHeaders | null | undefined): void {
  const length = this._contentLength;
  try {
    // A 101 needs its Upgrade field (RFC 9110 §15.2.2), which is hop-by-hop (§6.3): refuse it
    // here, while the listener can still answer otherwise, rather than send a broken 101.
    if (this.statusCode === 101) throw new Error('fromNodeListener: a 101 response cannot pass through NGI, which carries no protocol upgrade');
    // "NNN Reason" (§6.1) with the reason writeHead() left, as a real server sends it: the one
    // given (even empty), else the standard phrase, else Node's own "unknown".
    ownerOf(this).head(`${this.statusCode} ${this.statusMessage}`, headerList(this, headers));
  } catch (error) {
    // A refused head declares nothing for the listener's next one: not its Content-Length, nor
    // the lack of a body writeHead() gave a 1xx, 204 or 304, nor its reason phrase, which
    // writeHead() would keep for a next head without one (a 426 "Switching Protocols").
    this._contentLength = length;
    this._hasBody = this.req.method !== 'HEAD';
    this.statusMessage = undefined as unknown as string;
    throw error;
  }
  this._header = firstLine + '\r\n';
  // The head went to startResponse, so `_send` must not prepend it to the first body chunk.
  this._headerSent = true;
  this.chunkedEncoding = false;
}

function writeRaw(this: ResponseInternals, data: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean {
  if ((this.socket as unknown as NgiSocket).destroyed) return false;
  if (typeof encoding === 'function') {
    callback = encoding;
    encoding = null;
  }
  return ownerOf(this).writeRaw(
    data,
    (encoding as BufferEncoding | null | undefined) ?? null,
    typeof callback === 'function' ? (callback as () => void) : null,
  );
}

function finish(this: ResponseInternals): void {
  (Object.getPrototypeOf(this) as ResponseInternals)._finish.call(this);
  ownerOf(this).ended();
}

function flushHeaders(this: ResponseInternals): void {
  if (!this._header) this._implicitHeader();
  ownerOf(this).flush();
}

function writeHead(this: ResponseInternals, code: number, reason?: unknown, object?: unknown): ServerResponse {
  const next = (Object.getPrototypeOf(this) as ServerResponse).writeHead as (...args: unknown[]) => ServerResponse;
  const headers = typeof reason === 'string' ? object : (object ?? reason);
  const preset = kOutHeaders !== undefined && (this as unknown as Record<symbol, unknown>)[kOutHeaders] != null;
  if (!preset || !Array.isArray(headers) || (headers.length % 2 !== 0 && !Array.isArray(headers[0]))) {
    return next.call(this, code, reason, object);
  }
  const pairs: [string, unknown][] = [];
  if (Array.isArray(headers[0])) for (const pair of headers as [string, unknown][]) pairs.push(pair);
  else for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i] as string, headers[i + 1]]);
  // writeHead's headers replace earlier setHeader ones of the same name, duplicates kept.
  for (const [name] of pairs) if (name) this.removeHeader(name);
  for (const [name, value] of pairs) if (name) this.appendHeader(name, value as string | string[]);
  return typeof reason === 'string' ? next.call(this, code, reason) : next.call(this, code);
}

/** Accumulates the head's fields; hop-by-hop ones never reach startResponse (§6.3). */
interface Fields {
  list: HeaderList;
  code: number;
  /** The declared Content-Length, as given. */
  length: unknown;
  connection: string | undefined;
}

/**
 * The header list of the head being stored. `headers` is what writeHead handed to
 * `_storeHeader`: Node's own `{ lower: [name, value] }` store, or the raw object/array given to
 * writeHead when setHeader was never used.
 */
function headerList(res: ResponseInternals, headers: RawHeaders | null | undefined): HeaderList {
  const fields: Fields = { list: [], code: res.statusCode, length: undefined, connection: undefined };
  if (headers == null) {
    // No fields.
  } else if (Array.isArray(headers)) {
    if (Array.isArray(headers[0])) for (const [name, value] of headers as [string, unknown][]) addChecked(fields, name, value);
    else if (headers.length % 2 !== 0) throw invalidHeaders(headers);
    else for (let i = 0; i < headers.length; i += 2) addChecked(fields, headers[i] as string, headers[i + 1]);
  } else if (kOutHeaders !== undefined && headers === (res as unknown as Record<symbol, unknown>)[kOutHeaders]) {
    for (const key in headers) {
      const entry = headers[key] as [string, unknown];
      add(fields, entry[0], entry[1], key);
    }
  } else {
    for (const key in headers) if (Object.hasOwn(headers, key)) addChecked(fields, key, headers[key]);
  }
  // As Node's matchHeader: res.strictContentLength checks writes against the declared length.
  if (fields.length !== undefined) res._contentLength = Number(fields.length);
  // What Node would add itself when the whole body was given to end() before the head.
  else if (res._hasBody && typeof res._contentLength === 'number' && !res._removedContLen) {
    fields.list.push(['Content-Length', String(res._contentLength)]);
  }
  if (fields.connection !== undefined) return withoutConnectionTokens(fields.list, fields.connection);
  return fields.list;
}

/** What Node's own `writeHead` throws for a flat `[name, value, …]` list of odd length. */
function invalidHeaders(headers: unknown[]): TypeError {
  return Object.assign(new TypeError(`The argument 'headers' is invalid. Received ${inspect(headers)}`), { code: 'ERR_INVALID_ARG_VALUE' });
}

/**
 * A field given to writeHead as is, checked as Node's own `_storeHeader` checks it, with the same
 * errors (`ERR_INVALID_HTTP_TOKEN`, `ERR_INVALID_CHAR`, `ERR_HTTP_INVALID_HEADER_VALUE`): those
 * in Node's store were checked by setHeader already, so, as there, they are not checked again.
 */
function addChecked(fields: Fields, name: string, value: unknown): void {
  validateHeaderName(name);
  // Typed as strings, checked as anything: undefined is what ERR_HTTP_INVALID_HEADER_VALUE reports.
  if (Array.isArray(value)) for (const one of value) validateHeaderValue(name, one as string);
  else validateHeaderValue(name, value as string);
  add(fields, name, value);
}

function add(fields: Fields, name: string, value: unknown, lower = name.toLowerCase()): void {
  if (HOP_BY_HOP.has(lower) || lower === 'status') {
    if (lower === 'connection') fields.connection = String(value);
    return;
  }
  if (lower === 'content-length') {
    // §10.4: no Content-Length on 204.
    if (fields.code === 204) return;
    fields.length = value;
  } else if (lower === 'content-type' && (fields.code === 204 || fields.code === 304)) {
    return; // §10.4
  }
  if (Array.isArray(value)) {
    for (const one of value) fields.list.push([name, String(one)]);
  } else {
    fields.list.push([name, typeof value === 'string' ? value : String(value)]);
  }
}

/** Fields named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function withoutConnectionTokens(list: HeaderList, connection: string): HeaderList {
  const tokens = new Set(connection.split(',').map((token) => token.trim().toLowerCase()));
  return list.filter(([name]) => !tokens.has(name.toLowerCase()));
}
