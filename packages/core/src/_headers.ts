import type { HeaderList } from './types.ts';

// §6.1: 200 to 999. A 1xx is an interim response, never the answer (RFC 9110 §15.2).
const STATUS = /^[2-9]\d\d [\t\x20-\x7e\x80-\xff]*$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Hop-by-hop headers an application never sets (§6.3; RFC 9110 §7.6.1). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** What checkHeaders found a header name to be: an ordinary header, or Content-Length. */
const PLAIN = 0;
const CONTENT_LENGTH = 1;

// Valid names, values and statuses, as first checked: an application sends mostly the same
// few every time, and a lookup costs a fraction of the regular expressions and lower-casing it
// spares. Bounded, so varying input cannot grow them.
const nameKinds = new Map<string, number>();
const validValues = new Set<string>();
/** Valid statuses, with their reason phrases. */
const validStatuses = new Map<string, string>([['200 OK', 'OK']]);
const CACHE_LIMIT = 512;
/** Longer values (cookies, say) vary, and hashing one for a lookup would cost as much as checking it. */
const CACHED_VALUE_LENGTH = 64;

// The status and header list checked last: an application mostly answers with the same status,
// and the same names and values in the same order, so most checks are one comparison each.
let lastStatus = '200 OK';
let lastReason = 'OK';
let lastCode = 200;
const lastNames: string[] = [];
const lastValues: string[] = [];
/** Per remembered header: -1 for most, its value for a Content-Length. */
const lastLengths: number[] = [];
/** How many leading headers `checkHeaders` remembers. */
const REMEMBERED = 16;
/** What `lastLengths` holds for a header other than Content-Length. */
const NOT_LENGTH = -1;

/** Throws a TypeError naming the rule when `status` is not `"NNN Reason"` (§6.1). */
export function checkStatus(status: unknown): asserts status is string {
  if (status === lastStatus) return;
  let reason = typeof status === 'string' ? validStatuses.get(status) : undefined;
  if (reason === undefined) {
    if (typeof status !== 'string' || !STATUS.test(status)) {
      throw new TypeError(`§6.1: status must look like "200 OK", a code from 200 to 999, got ${JSON.stringify(status)}`);
    }
    reason = status.slice(4);
    if (validStatuses.size < CACHE_LIMIT) validStatuses.set(status, reason);
  }
  lastStatus = status as string;
  lastReason = reason;
  lastCode = codeOf(lastStatus);
}

/** The code of a status that passed `checkStatus`. */
export function statusCode(status: string): number {
  return status === lastStatus ? lastCode : codeOf(status);
}

function codeOf(status: string): number {
  return status.charCodeAt(0) * 100 + status.charCodeAt(1) * 10 + status.charCodeAt(2) - 48 * 111;
}

/** The reason phrase of a status that passed `checkStatus`: `"200 OK"` → `"OK"`. */
export function statusReason(status: string): string {
  if (status === lastStatus) return lastReason;
  return validStatuses.get(status) ?? status.slice(4);
}

/**
 * Throws a TypeError naming the rule when headers break §6.2/§6.3; returns the
 * Content-Length they declare, if any.
 */
export function checkHeaders(headers: unknown): number | undefined {
  if (!Array.isArray(headers)) throw new TypeError('§6.2: headers must be an array of [name, value] pairs');
  let contentLength: number | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair: unknown = headers[i];
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new TypeError(`§6.2: each header must be a [name, value] pair of strings, got ${JSON.stringify(pair)}`);
    }
    const name: string = pair[0];
    const value: string = pair[1];
    const length = i < REMEMBERED && name === lastNames[i] && value === lastValues[i] ? lastLengths[i]! : checkHeader(name, value, i);
    if (length !== NOT_LENGTH) {
      if (contentLength !== undefined) throw new TypeError(`§6.2: Content-Length must be one decimal number, got ${JSON.stringify(value)}`);
      contentLength = length;
    }
  }
  return contentLength;
}

/** Checks a header not remembered at `index`, remembers it there, and returns its Content-Length, or NOT_LENGTH. */
function checkHeader(name: string, value: string, index: number): number {
  const kind = nameKinds.get(name) ?? checkName(name);
  if (value.length > CACHED_VALUE_LENGTH || !validValues.has(value)) checkValue(name, value);
  let length = NOT_LENGTH;
  if (kind === CONTENT_LENGTH) {
    length = decimal(value);
    if (length < 0) throw new TypeError(`§6.2: Content-Length must be one decimal number, got ${JSON.stringify(value)}`);
  }
  if (index < REMEMBERED) {
    lastNames[index] = name;
    lastValues[index] = value;
    lastLengths[index] = length;
  }
  return length;
}

function checkValue(name: string, value: string): void {
  if (!FIELD_VALUE.test(value)) {
    throw new TypeError(`§6.2: header ${name} has a forbidden character (CR, LF, NUL or control) in its value`);
  }
  if (value.length <= CACHED_VALUE_LENGTH && validValues.size < CACHE_LIMIT) validValues.add(value);
}

/** The value of a string of decimal digits, or -1 for anything else. */
function decimal(value: string): number {
  if (value.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    n = n * 10 + digit;
  }
  return n;
}

/** Checks a header name not seen before (§6.2, §6.3) and tells what it is. */
function checkName(name: string): number {
  if (!TOKEN.test(name)) throw new TypeError(`§6.2: header name is not a token: ${JSON.stringify(name)}`);
  const lower = name.toLowerCase();
  if (lower === 'status') throw new TypeError('§6.3: "status" is not a response header');
  if (HOP_BY_HOP.has(lower)) throw new TypeError(`§6.3: hop-by-hop header ${name} is the server's to set`);
  const kind = lower === 'content-length' ? CONTENT_LENGTH : PLAIN;
  if (nameKinds.size < CACHE_LIMIT) nameKinds.set(name, kind);
  return kind;
}

/** A header name in lower case: the same string, not a copy, when it is already (the usual case). */
export function lowerCaseName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 65 && code <= 90) return name.toLowerCase();
  }
  return name;
}

/** Whether two header names are the same, compared case-insensitively; a length apart, they differ at once. */
export function sameHeaderName(a: string, b: string): boolean {
  return a.length === b.length && (a === b || a.toLowerCase() === b.toLowerCase());
}

/** Whether a header before `index` has the same name as the one at `index` (compared case-insensitively). */
export function namedBefore(headers: HeaderList, index: number): boolean {
  const name = headers[index]![0];
  for (let i = 0; i < index; i++) if (sameHeaderName(headers[i]![0], name)) return true;
  return false;
}

/** The value of the first header named `name` (lower-case), if any. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  for (const [key, value] of headers) if (key.length === name.length && lowerCaseName(key) === name) return value;
  return undefined;
}

/** `404` with `x-cascade: pass`: the application declines the request, a dispatcher may try another (§14.1). */
export function isCascadePass(status: number, headers: HeaderList): boolean {
  if (status !== 404) return false;
  for (const [name, value] of headers) {
    if (name.length === 9 && lowerCaseName(name) === 'x-cascade' && value.trim().toLowerCase() === 'pass') return true;
  }
  return false;
}
