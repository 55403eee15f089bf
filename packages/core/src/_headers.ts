import type { HeaderList } from './types.ts';

const STATUS = /^[1-9]\d\d [\t\x20-\x7e\x80-\xff]*$/;
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

/** Lengths of the names checkHeaders treats specially: `status`, hop-by-hop ones, `content-length`. */
const SPECIAL_LENGTHS = new Set([...HOP_BY_HOP, 'status', 'content-length'].map((name) => name.length));

/** Throws a TypeError naming the rule when `status` is not `"NNN Reason"` (§6.1). */
export function checkStatus(status: unknown): asserts status is string {
  if (typeof status !== 'string' || !STATUS.test(status)) {
    throw new TypeError(`§6.1: status must look like "200 OK", got ${JSON.stringify(status)}`);
  }
}

/**
 * Throws a TypeError naming the rule when headers break §6.2/§6.3; returns the
 * Content-Length they declare, if any.
 */
export function checkHeaders(headers: unknown): number | undefined {
  if (!Array.isArray(headers)) throw new TypeError('§6.2: headers must be an array of [name, value] pairs');
  let contentLength: number | undefined;
  for (const pair of headers as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      throw new TypeError(`§6.2: each header must be a [name, value] pair of strings, got ${JSON.stringify(pair)}`);
    }
    const [name, value] = pair as [string, string];
    if (!TOKEN.test(name)) throw new TypeError(`§6.2: header name is not a token: ${JSON.stringify(name)}`);
    if (!FIELD_VALUE.test(value)) {
      throw new TypeError(`§6.2: header ${name} has a forbidden character (CR, LF, NUL or control) in its value`);
    }
    // Only names as long as one of the special ones need lower-casing: spares an allocation per header.
    if (!SPECIAL_LENGTHS.has(name.length)) continue;
    const lower = name.toLowerCase();
    if (lower === 'status') throw new TypeError('§6.3: "status" is not a response header');
    if (HOP_BY_HOP.has(lower)) throw new TypeError(`§6.3: hop-by-hop header ${name} is the server's to set`);
    if (lower === 'content-length') {
      if (contentLength !== undefined || !/^\d+$/.test(value)) {
        throw new TypeError(`§6.2: Content-Length must be one decimal number, got ${JSON.stringify(value)}`);
      }
      contentLength = Number(value);
    }
  }
  return contentLength;
}

/** The value of the first header named `name` (lower-case), if any. */
export function getHeader(headers: HeaderList, name: string): string | undefined {
  for (const [key, value] of headers) if (key.length === name.length && key.toLowerCase() === name) return value;
  return undefined;
}

/** `404` with `x-cascade: pass`: the application declines the request, a dispatcher may try another (§14.1). */
export function isCascadePass(status: number, headers: HeaderList): boolean {
  if (status !== 404) return false;
  for (const [name, value] of headers) {
    if (name.length === 9 && name.toLowerCase() === 'x-cascade' && value.trim().toLowerCase() === 'pass') return true;
  }
  return false;
}
