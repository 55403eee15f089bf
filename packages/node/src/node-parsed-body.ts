import type { Environ } from '@ngi/core';

/**
 * How a body a framework's parser already read is handed to the application: `"serialize"`
 * hands over the bytes it left, `"error"` makes reading `ngi.input` throw.
 */
export type ParsedBodyMode = 'serialize' | 'error';

/**
 * Why nothing could be handed over: no body was left (`"missing"`), the parsed body cannot be
 * turned back into bytes (`"unserializable"`), or the mode is `"error"` (`"refused"`).
 */
export type ParsedBodyFailure = 'missing' | 'unserializable' | 'refused';

/** What a framework's body parser left of the request body it read. */
export interface ParsedBody {
  /**
   * What the parser made of the body: Express's `req.body`, Koa's `ctx.request.body`, Fastify's
   * `request.body`. A Buffer or string is handed over as bytes, a JSON or form object is
   * serialized again for its Content-Type.
   */
  body?: unknown;
  /**
   * The body as received, when the parser kept it: a Buffer (a body-parser `verify` hook's
   * `req.rawBody`, fastify-raw-body) is handed over as it is, a string (@koa/bodyparser's
   * `ctx.request.rawBody`) as UTF-8. Preferred over `body`.
   */
  rawBody?: unknown;
}

/** Options of {@link parsedBodyInput}. */
export interface ParsedBodyOptions {
  /**
   * Whether what the parser left is handed over, or reading `ngi.input` throws.
   * @default "serialize"
   */
  mode?: ParsedBodyMode | undefined;
  /**
   * The message of the error reading `ngi.input` throws when nothing can be handed over, given
   * why and what kind of value `body` is (`"undefined"`, `"null"`, `"Map"`): it should say
   * who read the body and how to avoid it.
   * @default a message that names `body` and `rawBody`
   */
  message?: ((failure: ParsedBodyFailure, kind: string) => string) | undefined;
}

const encoder = new TextEncoder();
const CHARSET = /;\s*charset=(?:"[^"]*"|[^;]*)/i;

/**
 * `ngi.input` for a request whose body stream the host framework's parser already consumed
 * (`req.readableDidRead || req.readableEnded`). The bytes it left are handed over — `rawBody`
 * when kept, else a Buffer or string `body`, else a JSON or form `body` serialized again — and
 * environ is corrected to describe them: `CONTENT_LENGTH` counts them, Transfer-Encoding and
 * Content-Encoding are gone (the parser inflated the body), and text re-encoded as UTF-8 says
 * so in `CONTENT_TYPE`. With nothing to hand over, reading the body throws a clear error: never a
 * hang (the stream has ended) and never a silently empty body (fastify-express README, "POST
 * request with body hangs up").
 */
export function parsedBodyInput(environ: Environ, parsed: ParsedBody, options: ParsedBodyOptions = {}): AsyncIterable<Uint8Array> {
  const type = environ.CONTENT_TYPE ?? '';
  const refused = options.mode === 'error';
  const bytes = refused ? undefined : bytesOf(parsed, type, environ.CONTENT_LENGTH);
  if (bytes === undefined) {
    const failure = refused ? 'refused' : parsed.body === undefined ? 'missing' : 'unserializable';
    return failing(new Error((options.message ?? defaultMessage)(failure, kindOf(parsed.body))));
  }
  environ.CONTENT_LENGTH = String(bytes.byteLength);
  delete environ.HTTP_TRANSFER_ENCODING;
  delete environ.HTTP_CONTENT_ENCODING;
  // Decoded text and serialized objects are UTF-8 now; bytes kept as received keep their charset.
  // Text that named none was decoded with the parser's default (latin1 for express.text() if
  // told so), and would be read with a default again: it says UTF-8 now.
  const encoded = bytes !== parsed.rawBody && bytes !== parsed.body;
  if (encoded && CHARSET.test(type)) environ.CONTENT_TYPE = type.replace(CHARSET, '; charset=utf-8');
  else if (encoded && typeof parsed.body === 'string' && /^\s*text\//i.test(type)) environ.CONTENT_TYPE = `${type}; charset=utf-8`;
  return once(bytes);
}

/** The bytes to hand over: `rawBody` when kept (text as UTF-8), else `body` as bytes again. */
function bytesOf(parsed: ParsedBody, type: string, length: string | undefined): Uint8Array | undefined {
  const raw = parsed.rawBody;
  if (raw instanceof Uint8Array) return raw;
  if (typeof raw === 'string') return encoder.encode(raw);
  return serialize(parsed.body, type, length === undefined ? undefined : Number(length));
}

/**
 * A parsed body as bytes again: Buffers as they are, strings as UTF-8, JSON values and form
 * objects re-encoded. `length` is the Content-Length the client sent, when it sent one.
 */
function serialize(body: unknown, type: string, length: number | undefined): Uint8Array | undefined {
  if (body instanceof Uint8Array) return body;
  const media = type.split(';', 1)[0]!.trim().toLowerCase();
  if (typeof body === 'string' && (media === 'application/json' || media.endsWith('+json'))) {
    // The string came from a text parser (express.text({ type: 'application/json' })), which
    // keeps the body as it was, or from a JSON parser that is not strict (express.json({ strict:
    // false })), where `"123"` arrives as `123`. The length the client sent tells which one; without
    // it, a string that is JSON text as it is is taken for the text parser's.
    const text = encoder.encode(body);
    const json = encoder.encode(JSON.stringify(body));
    if (length === text.byteLength) return text;
    if (length === json.byteLength) return json;
    return isJsonText(body) ? text : json;
  }
  if (body !== undefined && (media === 'application/json' || media.endsWith('+json'))) return encoder.encode(JSON.stringify(body));
  if (typeof body === 'string') return encoder.encode(body);
  if (body === null || typeof body !== 'object') return undefined;
  if (media === 'application/x-www-form-urlencoded') return encoder.encode(formEncode(body));
  return undefined;
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
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

const DEFAULT_REASONS: Record<ParsedBodyFailure, string> = {
  missing: 'left no body',
  unserializable: 'left a body that cannot be turned back into bytes',
  refused: 'parsed bodies are not handed over (mode "error")',
};

function defaultMessage(failure: ParsedBodyFailure, kind: string): string {
  const why = DEFAULT_REASONS[failure] + (failure === 'unserializable' ? ` (${kind})` : '');
  return `the request body was already read by a body parser and ${why}; run the application before it, or keep the raw bytes as rawBody`;
}

function kindOf(value: unknown): string {
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
