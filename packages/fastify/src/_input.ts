import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Environ } from '@ngi/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { parsedInput, type ParsedBodyMode } from './_parsed-body.ts';

const PAYLOAD = Symbol('ngi.fastify.payload');

type PayloadRequest = FastifyRequest & { [PAYLOAD]?: Readable; rawBody?: unknown };

/**
 * The content-type parser of the plugin's routes, for every type: it reads nothing, so the body
 * reaches the application raw and streaming, neither consumed by Fastify's JSON parser nor
 * refused as an unknown type (415). It keeps the payload stream, which a `preParsing` hook
 * (decompression, say) may have put in place of `request.raw`.
 */
export function keepPayload(request: FastifyRequest, payload: unknown, done: (error: Error | null) => void): void {
  if (payload !== request.raw) {
    (request as PayloadRequest)[PAYLOAD] = payload as Readable;
    // A pipe does not pass the request's abort on: reading the hook's stream would wait for ever
    // for a client that left mid-upload, where it must throw (§4.3).
    request.raw.once('close', () => {
      if (!request.raw.complete) (payload as Readable).destroy(abortedError());
    });
  }
  done(null);
}

/** What reading a request Node saw aborted throws. */
function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/** The request side of one exchange: whether and how far the application read the body. */
export class RequestBody implements AsyncIterable<Uint8Array> {
  /** The application started reading: the body is gone, so no fall-through (§14.1). */
  used = false;
  private iterator: AsyncIterator<Uint8Array> | undefined = undefined;

  constructor(
    private readonly payload: Readable,
    private readonly res: { readonly writableEnded: boolean },
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new TypeError('§4.3: ngi.input can be iterated once');
    // What is left is drained once the response is over (§12.3): read now, it would come out
    // short or empty, looking complete.
    if (this.res.writableEnded) throw new TypeError('§4.3: ngi.input read after the response was over; read the body before answering');
    this.used = true;
    const payload = this.payload;
    // Stopping early must not destroy the request, and with it the socket the response still
    // needs: what is left is drained after the response instead (§12.3).
    const iterator =
      typeof payload.iterator === 'function'
        ? (payload.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>)
        : (payload as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    return (this.iterator = iterator);
  }

  /** Before what is left is drained (§12.3): the application's iteration ends, and a `preParsing` stream is let go. */
  release(req: Readable): void {
    void this.iterator?.return?.()?.catch(() => {});
    req.unpipe();
  }
}

/**
 * `ngi.input` for a request with a body: the payload stream with its own backpressure, or,
 * when something before the plugin already read it, what it left (`_parsed-body.ts`).
 */
export function inputOf(request: FastifyRequest, reply: FastifyReply, environ: Environ, mode: ParsedBodyMode): AsyncIterable<Uint8Array> {
  const withPayload = request as PayloadRequest;
  const payload = withPayload[PAYLOAD] ?? request.raw;
  if (request.body === undefined && !payload.readableDidRead && !payload.readableEnded) {
    if ('receivedEncodedLength' in payload) describeDecoded(environ);
    return new RequestBody(payload, reply.raw);
  }
  const raw = request.raw as IncomingMessage & { body?: unknown; rawBody?: unknown };
  const body = request.body !== undefined ? request.body : raw.body;
  return parsedInput(environ, { body, rawBody: withPayload.rawBody ?? raw.rawBody }, mode);
}

/**
 * A hook's stream with `receivedEncodedLength` decodes what the client sent (Fastify's preParsing
 * convention; @fastify/compress inflates so): Content-Length counts the bytes received, not those
 * the application reads, and their Content-Encoding is undone. The body has no known length now.
 */
function describeDecoded(environ: Environ): void {
  delete environ.CONTENT_LENGTH;
  delete environ.HTTP_CONTENT_ENCODING;
  if (environ.SERVER_PROTOCOL !== 'HTTP/2') environ.HTTP_TRANSFER_ENCODING = 'chunked';
}

/** Whether `request.raw` still holds the whole request body, for a listener to read itself. */
export function bodyUntouched(request: FastifyRequest): boolean {
  const raw = request.raw;
  return (request as PayloadRequest)[PAYLOAD] === undefined && request.body === undefined && !raw.readableDidRead && !raw.readableEnded;
}
