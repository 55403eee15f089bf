import type { Environ } from '@ngi/core';

/** How a body an earlier middleware already read is handed to the application. */
export type ParsedBodyMode = 'serialize' | 'error';

const encoder = new TextEncoder();
const CHARSET = /;\s*charset=(?:"[^"]*"|[^;]*)/i;

/**
 * `ngi.input` for a request whose body stream an earlier middleware (Express's `json`,
 * `urlencoded`, `text`, `raw`) already consumed. The bytes it left are handed over — the raw
 * bytes kept as `req.rawBody` (a parser's `verify` hook), a Buffer or string `req.body`, or a
 * JSON or form `req.body` serialized again — and environ is corrected to describe them. With
 * nothing to hand over, reading the body throws a clear error: never a hang (the stream has
 * ended) and never a silently empty body (fastify-express "POST request with body hangs up").
 */
export function parsedInput(environ: Environ, req: { body?: unknown; rawBody?: unknown }, mode: ParsedBodyMode): AsyncIterable<Uint8Array> {
  const type = environ.CONTENT_TYPE ?? '';
  const raw = req.rawBody;
  let bytes: Uint8Array | undefined;
  if (mode === 'serialize') bytes = raw instanceof Uint8Array ? raw : serialize(req.body, type);
  if (bytes === undefined) return failing(consumedError(req.body, mode));
  // The body-parser inflated and decoded what it read: the bytes are identity-coded UTF-8 now.
  environ.CONTENT_LENGTH = String(bytes.byteLength);
  delete environ.HTTP_TRANSFER_ENCODING;
  delete environ.HTTP_CONTENT_ENCODING;
  if (bytes !== raw && CHARSET.test(type)) environ.CONTENT_TYPE = type.replace(CHARSET, '; charset=utf-8');
  return once(bytes);
}

/** `req.body` as bytes again: Buffers as they are, strings as UTF-8, JSON and form objects re-encoded. */
function serialize(body: unknown, type: string): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return encoder.encode(body);
  if (body === null || typeof body !== 'object') return undefined;
  const media = type.split(';', 1)[0]!.trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) return encoder.encode(JSON.stringify(body));
  if (media === 'application/x-www-form-urlencoded') return encoder.encode(formEncode(body));
  return undefined;
}

/** A form object back to `a=1&a=2&b[c]=3`: arrays as repeated keys, nested objects in brackets (qs's reading). */
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
  const what = body === undefined ? 'left no req.body' : `left a req.body this adapter cannot serialize (${describe(body)})`;
  const why = mode === 'error' ? 'and the parsedBody option is "error"' : what;
  return new Error(
    `toExpress: an earlier middleware already read the request body ${why}; mount the application before ` +
      'the body parser, or keep the raw bytes as req.rawBody in the parser\'s verify option',
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
