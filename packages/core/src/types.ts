/**
 * The NGI 1.0 contract: plain function types, no runtime code.
 * `docs/spec.md` is the normative text; rule numbers are cited as "§N".
 */

/** A body chunk: bytes, or a string sent as UTF-8 (§9.2). */
export type Chunk = Uint8Array | string;

/** Response headers: an ordered list of `[name, value]` pairs; names may repeat (§6.2, §6.3). */
export type HeaderList = [name: string, value: string][];

/**
 * The imperative write function returned by {@link StartResponse} (§7).
 * It resolves when the chunk has been handed on, so awaiting it gives backpressure.
 * `write('')` sends the held-back head at once (§8.3).
 */
export type Write = (chunk: Chunk) => Promise<void>;

/**
 * Begins the response (§6). `status` is `"NNN Reason"`; a second call is allowed
 * only with `error` (§6.4), and rethrows it once the head has been sent.
 */
export type StartResponse = (status: string, headers: HeaderList, error?: unknown) => Write;

/** What an application returns: chunks to send, with an optional `close()` the server calls once (§9). */
export type ResponseBody = (Iterable<Chunk> | AsyncIterable<Chunk>) & {
  close?(): void | Promise<void>;
  /** A string is an Iterable of its characters, yet no body (§9.1): this keeps it out. */
  charAt?: never;
};

/** The application callable (§1). */
export type Application = (
  environ: Environ,
  startResponse: StartResponse,
) => ResponseBody | Promise<ResponseBody>;

/** Any `(app) => app` function is middleware (§13). */
export type Middleware = (app: Application) => Application;

/** `ngi.errors`: where an application writes diagnostics (§4.4). */
export interface ErrorStream {
  write(message: string): void;
  flush(): void;
}

/** The per-request environment (§2–§5). CGI values are strings; extension keys contain a dot. */
export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  REMOTE_ADDR?: string;
  REMOTE_PORT?: string;
  'ngi.version': readonly [1, 0];
  'ngi.url_scheme': 'http' | 'https';
  'ngi.input': AsyncIterable<Uint8Array>;
  'ngi.errors': ErrorStream;
  'ngi.multithread': boolean;
  'ngi.multiprocess': boolean;
  'ngi.run_once': boolean;
  'ngi.signal': AbortSignal;
  'ngi.raw_path': string;
  [key: `HTTP_${string}`]: string | undefined;
  [key: string]: unknown;
}
