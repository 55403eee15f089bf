import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Environ } from '@ngi/core';
import type { Context } from 'koa';

/** An `ngi.input` that records whether it was iterated (a fall-through must not lose a read body, §14.1). */
export interface Input extends AsyncIterable<Uint8Array> {
  used: boolean;
}

/** The request body a body parser left behind: `rawBody` as @koa/bodyparser and koa-bodyparser keep it. */
interface ParsedRequest {
  rawBody?: unknown;
}

/**
 * `ngi.input` for a Koa request with a body. It streams from `ctx.req`; when a body parser
 * already read the stream, it hands over the raw body the parser kept, and when there is none
 * it fails on first read, never passing an empty body off as the real one.
 */
export function inputOf(ctx: Context, environ: Environ, drainLimit: number): Input {
  const req = ctx.req as IncomingMessage;
  const raw = (ctx.request as ParsedRequest).rawBody ?? (req as ParsedRequest).rawBody;
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
    // The parser removed framing and content coding; environ describes the body handed over.
    environ.CONTENT_LENGTH = String(bytes.byteLength);
    delete environ.HTTP_TRANSFER_ENCODING;
    delete environ.HTTP_CONTENT_ENCODING;
    return new BytesInput(bytes);
  }
  if (req.readableDidRead || req.readableEnded) return new ConsumedInput();
  return new RequestInput(req, ctx.res as ServerResponse, environ.HTTP_EXPECT === '100-continue', drainLimit);
}

class RequestInput implements Input {
  used = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly expectsContinue: boolean,
    readonly drainLimit: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new TypeError('§4.3: ngi.input can be iterated once');
    this.used = true;
    const { req, res } = this;
    // §12.4: a server that leaves `Expect: 100-continue` to the application ('checkContinue').
    const http1 = res as ServerResponse & { _sent100?: boolean };
    if (this.expectsContinue && !http1._sent100 && typeof http1.writeContinue === 'function') http1.writeContinue();
    // An app that stops reading early must not destroy the request, and with it the socket
    // the response still needs: what it leaves is drained once the response is done (§12.3).
    const iterator = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>;
    res.once('finish', () => drain(req, iterator, this.drainLimit));
    return iterator;
  }
}

/**
 * Node dumps an unread body itself, but not one the application started reading: left
 * paused, it would stall the next request on a kept-alive connection (hono#246). Bounded,
 * so a huge upload cannot hold the connection.
 */
function drain(req: IncomingMessage, iterator: AsyncIterator<Uint8Array>, limit: number): void {
  if (req.readableEnded || req.destroyed) return;
  void iterator.return?.()?.catch(() => {});
  let drained = 0;
  req.on('data', (chunk: Uint8Array) => {
    drained += chunk.byteLength;
    if (drained > limit) req.socket.destroy();
  });
  req.resume();
}

/** The raw body a body parser kept, handed over as one chunk. */
class BytesInput implements Input {
  used = false;

  constructor(readonly bytes: Uint8Array) {}

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new TypeError('§4.3: ngi.input can be iterated once');
    this.used = true;
    let done = this.bytes.byteLength === 0;
    const bytes = this.bytes;
    return {
      next: () => {
        if (done) return Promise.resolve({ done: true, value: undefined });
        done = true;
        return Promise.resolve({ done: false, value: bytes });
      },
      return: () => {
        done = true;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/** A body some earlier middleware read without keeping it: reading fails with the reason. */
class ConsumedInput implements Input {
  used = false;

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    this.used = true;
    throw new Error(
      '@ngi/koa: the request body was already read by an earlier Koa middleware (a body parser?) ' +
        'that kept no raw body (ctx.request.rawBody) to hand over; mount the callable before that middleware',
    );
  }
}
