import { HttpError, checkOptions } from './errors.ts';
import type { Chunk, Environ } from './types.ts';

const encoder = new TextEncoder();

/** A chunk as bytes: strings are encoded as UTF-8 (§9.2). Throws a TypeError for anything else. */
export function toBytes(chunk: Chunk): Uint8Array {
  if (typeof chunk === 'string') return encoder.encode(chunk);
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError(`§9.2: a body chunk must be a Uint8Array or a string, got ${describe(chunk)}`);
}

/** The byte length of a chunk, strings counted as UTF-8 without encoding them. */
export function chunkLength(chunk: Chunk): number {
  if (typeof chunk === 'string') return utf8Length(chunk);
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  throw new TypeError(`§9.2: a body chunk must be a Uint8Array or a string, got ${describe(chunk)}`);
}

/** The UTF-8 length of a string without encoding it; a lone surrogate counts as U+FFFD, as TextEncoder writes it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: two code units, four bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** A short description of a value's type for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/** Concatenates byte arrays into one. */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

export interface ReadBodyOptions {
  /**
   * The most bytes to accept; a larger body throws an {@link HttpError} 413.
   * @default 1048576 (1 MiB)
   */
  limit?: number | undefined;
}

/**
 * Reads `ngi.input` whole, for applications that need the complete body (a form, JSON).
 * A declared or actual size past `limit` throws an {@link HttpError} 413 without reading further;
 * a `limit` that is not a non-negative integer (or `Infinity`) throws a TypeError.
 */
export async function readBody(environ: Environ, options: ReadBodyOptions = {}): Promise<Uint8Array> {
  if (typeof environ !== 'object' || environ === null || typeof environ.REQUEST_METHOD !== 'string') {
    const input = typeof (environ as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
    throw new TypeError(`readBody: expected the environ${input ? ", not environ['ngi.input']: readBody(environ)" : `, got ${describe(environ)}`}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`readBody: options must be an object like { limit: 1024 }, got ${describe(options)}`);
  }
  checkOptions(options, 'readBody', { limit: null });
  const limit = options.limit ?? 1024 * 1024;
  // NaN (say, Number() of an unset variable) compares false with every size: no limit at all.
  if (typeof limit !== 'number' || !(Number.isInteger(limit) || limit === Infinity) || limit < 0) {
    throw new TypeError(`readBody: options.limit must be a non-negative integer, got ${String(limit)}`);
  }
  const declared = environ.CONTENT_LENGTH === undefined ? 0 : Number(environ.CONTENT_LENGTH);
  if (declared > limit) throw tooLarge(limit);
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of environ['ngi.input']) {
    total += part.byteLength;
    if (total > limit) throw tooLarge(limit);
    parts.push(part);
  }
  return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts, total);
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `Request body exceeds the limit of ${limit} bytes`);
}
