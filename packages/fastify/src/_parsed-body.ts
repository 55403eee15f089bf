import type { Environ } from '@ngi/core';

/** How a request body something before the plugin already read is handed to the application. */
export type ParsedBodyMode = 'serialize' | 'error';

/** Where a body read before the plugin may have been left. */
export interface ParsedSources {
  /** Fastify's `request.body`, else a Connect middleware's `req.body` (`@fastify/express`, `@fastify/middie`). */
  body: unknown;
  /** The bytes as received, as `fastify-raw-body` or a body-parser `verify` hook keeps them. */
  rawBody: unknown;
}

const encoder = new TextEncoder();
const CHARSET = /;\s*charset=(?:"[^"]*"|[^;]*)/i;

/**
 * `ngi.input` for a request whose body was read before the plugin ran (a hook, a middleware
 * in `@fastify/express`). What was left is handed over — the raw bytes when kept, else a
 * Buffer or string body, else a JSON or form object serialized again — and environ is
 * corrected to describe it. With nothing to hand over, reading the body throws a clear error:
 * never a hang and never a silently empty body (fastify-express README "POST request with body
 * hangs up").
 */
export function parsedInput(environ: Environ, sources: ParsedSources, mode: ParsedBodyMode): AsyncIterable<Uint8Array> {
  const type = environ.CONTENT_TYPE ?? '';
  const raw = sources.rawBody;
  let bytes: Uint8Array | undefined;
  if (mode === 'serialize') bytes = raw instanceof Uint8Array ? raw : serialize(sources.body, type);
  if (bytes === undefined) return failing(consumedError(sources.body, mode));
  // What a parser hands on is inflated and, for text, UTF-8: describe the bytes as they are now.
  environ.CONTENT_LENGTH = String(bytes.byteLength);
  delete environ.HTTP_TRANSFER_ENCODING;
  delete environ.HTTP_CONTENT_ENCODING;
  if (bytes !== raw && CHARSET.test(type)) environ.CONTENT_TYPE = type.replace(CHARSET, '; charset=utf-8');
  return once(bytes);
}

/** A parsed body as bytes again: Buffers as they are, strings as UTF-8, JSON and form objects re-encoded. */
function serialize(body: unknown, type: string): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return encoder.encode(body);
  if (body === null || typeof body !== 'object') return undefined;
  const media = type.split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) return encoder.encode(JSON.stringify(body));
  if (media === 'application/x-www-form-urlencoded') return encoder.encode(formEncode(body));
  return undefined;
}

/** A form object back to `a=1&a=2&b[c]=3`: arrays as repeated keys, nested objects in brackets. */
function formEncode(body: object): string {
  const params = new URLSearchParams();
  const add = (key: string, value: unknown): void => {
    if (Array.isArray(value)) for (const item of value) add(key, item);
    else if (value !== null && typeof value === 'object') for (const [name, item] of Object.entries(value)) add(`${key}[${name}]`, item);
    else params.append(key, value == null ? '' : String(value as string));
  };
  for (const [key, value] of Object.entries(body)) add(key, value);
  return params.toString();
}

function consumedError(body: unknown, mode: ParsedBodyMode): Error {
  const why =
    mode === 'error'
      ? 'and the parsedBody option is "error"'
      : body === undefined
        ? 'and left no body'
        : `and left a body that cannot be serialized again (${describe(body)})`;
  return new Error(
    `@ngi/fastify: a hook or middleware before the plugin already read the request body ${why}; ` +
      'register the plugin before it, or keep the raw bytes as request.rawBody',
  );
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

function once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    async *[Symbol.asyncIterator]() {
      if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
      used = true;
      if (bytes.byteLength > 0) yield bytes;
    },
  };
}

function failing(error: Error): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      throw error;
    },
  };
}
