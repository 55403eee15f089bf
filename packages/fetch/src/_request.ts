import { requestHeaders, type Environ } from '@ngi/core';
import { forwardMembers, forwardSlots } from './_inherit.ts';
import { exactBuffer, inputStream, readInput, readStream } from './_input.ts';
import { requestHref, splitTarget } from './_url.ts';

/** `request[environSymbol]`: the environ a `fromFetch` request stands for (the key `@ngi/node` uses too). */
export const environSymbol: unique symbol = Symbol.for('ngi.environ');
/** `request[baseUrlSymbol]`: the mount prefix (`SCRIPT_NAME`) as spelled in the request target, `''` at the root. */
export const baseUrlSymbol: unique symbol = Symbol.for('ngi.base_url');

const NativeRequest = globalThis.Request;
const decoder = new TextDecoder();
// Spec defaults that say nothing about this request; read from a real one so the runtime decides.
const CONSTANT = new Set<PropertyKey>(['cache', 'credentials', 'destination', 'duplex', 'integrity', 'keepalive', 'mode', 'redirect', 'referrer', 'referrerPolicy', 'isHistoryNavigation', 'isReloadNavigation']);
let sample: Request | undefined;
const sampleRequest = (): Request => (sample ??= new NativeRequest('http://localhost/'));
const NORMALIZED = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

/**
 * A `Request` for an environ that builds little until asked: the URL string at once, `Headers`
 * on first read, the body stream only if the handler takes it; `text()`/`json()`/`arrayBuffer()`
 * read `ngi.input` directly. A native `Request` is made only for what the façade does not
 * implement itself (`clone()`, `formData()`, …). It passes `instanceof Request` without any
 * global being replaced (anti-example: @hono/node-server#154, #321).
 */
export class NgiRequest {
  readonly [environSymbol]: Environ;
  readonly [baseUrlSymbol]: string;
  #url: string;
  #headers: Headers | undefined;
  #body: ReadableStream<Uint8Array> | null | undefined;
  #used = false;
  #native: Request | undefined;

  /** Throws an `HttpError` 400 when the request has no valid URL, before the handler runs. */
  constructor(environ: Environ) {
    this[environSymbol] = environ;
    const target = splitTarget(environ);
    this[baseUrlSymbol] = target.base;
    this.#url = requestHref(environ, target.path);
  }

  get method(): string {
    const method = this[environSymbol].REQUEST_METHOD;
    // Fetch upper-cases these six whatever their case ("normalize a method"); PATCH stays as sent.
    if (NORMALIZED.has(method)) return method;
    const upper = method.toUpperCase();
    return NORMALIZED.has(upper) ? upper : method;
  }

  get url(): string {
    return this.#native?.url ?? this.#url;
  }

  get headers(): Headers {
    return (this.#headers ??= this.#native?.headers ?? new Headers(requestHeaders(this[environSymbol])));
  }

  get signal(): AbortSignal {
    return this.#native?.signal ?? this[environSymbol]['ngi.signal'];
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#native !== undefined) return this.#native.body;
    if (this.#body === undefined) {
      if (this.#nullBody()) this.#body = null;
      else if (this.#used) this.#body = disturbed(new ReadableStream());
      else this.#body = inputStream(this[environSymbol]['ngi.input'], () => void (this.#used = true));
    }
    return this.#body;
  }

  get bodyUsed(): boolean {
    return this.#used || (this.#native?.bodyUsed ?? false);
  }

  text(): Promise<string> {
    if (this.#native !== undefined) return this.#native.text();
    return this.#bytes().then((bytes) => decoder.decode(bytes));
  }

  json(): Promise<any> {
    if (this.#native !== undefined) return this.#native.json();
    return this.#bytes().then((bytes) => JSON.parse(decoder.decode(bytes)) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#native !== undefined) return this.#native.arrayBuffer();
    return this.#bytes().then(exactBuffer);
  }

  bytes(): Promise<Uint8Array> {
    if (this.#native !== undefined) return this.#native.arrayBuffer().then((buffer) => new Uint8Array(buffer));
    return this.#bytes();
  }

  #nullBody(): boolean {
    const method = this.method;
    return method === 'GET' || method === 'HEAD';
  }

  /** The whole body, read once; a second read is rejected as the fetch spec does. */
  #bytes(): Promise<Uint8Array> {
    if (this.#nullBody()) return Promise.resolve(new Uint8Array(0));
    if (this.#used) return Promise.reject(unusable());
    const stream = this.#body;
    if (stream != null && stream.locked) return Promise.reject(new TypeError('Body is unusable: the body stream is locked'));
    this.#used = true;
    return stream != null ? readStream(stream) : readInput(this[environSymbol]['ngi.input']);
  }

  /** The native `Request` behind everything the façade does not implement; made once. */
  #materialize(): Request {
    if (this.#native !== undefined) return this.#native;
    const used = this.#used;
    const body = used ? new ReadableStream<Uint8Array>() : this.body;
    const init: RequestInit = { method: this.method, headers: this.headers, signal: this.signal };
    if (body !== null) Object.assign(init, { body, duplex: 'half' });
    const native = new NativeRequest(this.url, init);
    // A body already read through the façade is gone: the native request's is used up too, so
    // blob(), formData(), clone() and new Request(request) throw instead of finding it empty.
    if (used) disturbed(native.body!);
    return (this.#native = native);
  }

  static {
    forwardMembers(NgiRequest.prototype, NativeRequest.prototype, (self: NgiRequest, key) =>
      CONSTANT.has(key) && self.#native === undefined ? sampleRequest() : self.#materialize(),
    );
    forwardSlots(NgiRequest.prototype, sampleRequest(), (self: NgiRequest) => self.#materialize());
    Object.setPrototypeOf(NgiRequest.prototype, NativeRequest.prototype);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Request (NGI) { method: '${this.method}', url: '${this.url}' }`;
  }
}

function unusable(): TypeError {
  return new TypeError('Body is unusable: Body has already been read');
}

/**
 * The stream left locked and disturbed, as a native body is after `text()`: a reader cannot be
 * taken, and `new Request(url, { body })` refuses it, as it refuses a used request's body.
 */
function disturbed(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  void stream.getReader().cancel();
  return stream;
}
