import type { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerResponse, type Http2ServerRequest } from 'node:http2';
import { HttpError, type Environ } from '@ngi/core';
import type { NodeRequest, NodeResponse } from './_environ.ts';

/** `ngi.input` of a request without a body. */
export const EMPTY_INPUT: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/** An `Expect` value asking for `100 Continue`, in any letter case, as Node's own parser reads it. */
export function expectsContinue(expect: string | undefined): boolean {
  return expect !== undefined && CONTINUE.test(expect);
}

const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

const openInputs = new WeakMap<NodeRequest, AsyncIterator<Uint8Array>>();

/** Ends an iteration of `ngi.input` the application left open, so the rest can be drained. */
export function releaseInput(req: NodeRequest): void {
  const iterator = openInputs.get(req);
  if (iterator === undefined) return;
  openInputs.delete(req);
  void iterator.return?.()?.catch(() => {});
}

/**
 * Whether the request has a body: a Content-Length other than 0, a Transfer-Encoding, or an HTTP/2
 * request without a length whose stream did not end with its headers (END_STREAM on HEADERS, as
 * a GET's does). `fromNodeListener`'s request for an HTTP/2 environ, with no stream to ask, has one.
 */
export function hasBody(environ: Environ, req: NodeRequest): boolean {
  const length = environ.CONTENT_LENGTH;
  if (length !== undefined) return length !== '0';
  if (environ.HTTP_TRANSFER_ENCODING !== undefined) return true;
  return req.httpVersionMajor === 2 && (req as Http2ServerRequest).stream?.endAfterHeaders !== true;
}

/**
 * `ngi.input` over the request stream: backpressure comes from the stream's own
 * buffering; `Expect: 100-continue` is answered on first read (§12.4).
 */
export function inputOf(req: NodeRequest, res: NodeResponse, sendContinue: boolean, max: number): AsyncIterable<Uint8Array> {
  let used = false;
  return {
    [Symbol.asyncIterator]() {
      if (used) throw new TypeError('§4.3: ngi.input can be iterated once');
      // The server drains the body once the response is over (§12.3): read now, it would come
      // out short or empty, looking complete, or never end on a closed connection.
      if (res.writableEnded) throw new TypeError('§4.3: ngi.input read after the response was over; read the body before answering');
      used = true;
      if (sendContinue && !continued(res) && typeof res.writeContinue === 'function') res.writeContinue();
      // An app that stops reading early must not destroy the request, and with it the
      // socket the response still needs: what it leaves is drained instead (§12.3).
      const iterator = (req as IncomingMessage).iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
      openInputs.set(req, iterator);
      return max === Infinity ? iterator : limited(iterator, max);
    },
  };
}

/**
 * Whether `100 Continue` went out, or can no longer: Node answers it itself where no
 * 'checkContinue' listener is set (`_sent100` over HTTP/1; over HTTP/2, among the stream's
 * informational heads), and once the head is out a 100 would land inside the response.
 */
function continued(res: NodeResponse): boolean {
  if (res.headersSent) return true;
  return res instanceof Http2ServerResponse ? res.stream.sentInfoHeaders !== undefined : (res as ServerResponse & { _sent100?: boolean })._sent100 === true;
}

/** The 413 for a body past `max` (§4.3). */
export function tooLarge(max: number): HttpError {
  return new HttpError(413, `Request body exceeds the limit of ${max} bytes`);
}

/** A body without Content-Length is counted as it streams: past `max`, reading it fails with a 413. */
function limited(iterator: AsyncIterator<Uint8Array>, max: number): AsyncIterator<Uint8Array> {
  let seen = 0;
  return {
    async next() {
      const step = await iterator.next();
      if (!step.done && (seen += step.value.byteLength) > max) {
        await iterator.return?.();
        throw tooLarge(max);
      }
      return step;
    },
    return: () => iterator.return?.() ?? Promise.resolve({ done: true, value: undefined }),
  };
}
