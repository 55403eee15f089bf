import type { Environ } from '@ngi/core';
import { drainAfterResponse, parsedBodyInput, type ParsedBody, type ParsedBodyFailure, type ParsedBodyOptions } from '@ngi/node';
import type { Context } from 'koa';

/** The exchange told when the callable starts reading the body. */
export interface InputOwner {
  /** The callable read the body from the request: it is gone, so no fall-through after it (§14.1). */
  inputUsed: boolean;
  /** The request's body, when it has one: drained once the callable has answered. */
  input: KoaInput | undefined;
}

/**
 * `ngi.input` for a Koa request with a body: the stream `nodeEnviron` reads, or, when an
 * earlier middleware (a body parser) already read it, what that left (`parsedBodyInput`).
 * Reading the stream tells the owner; reading what a parser left does not, as under toExpress:
 * the middleware after a fall-through still finds it in `ctx.request.body`.
 */
export class KoaInput implements AsyncIterable<Uint8Array> {
  private readonly input: AsyncIterable<Uint8Array>;
  private readonly handedOver: boolean;

  constructor(
    private readonly ctx: Context,
    environ: Environ,
    private readonly owner: InputOwner,
    private readonly drainLimit: number,
  ) {
    const req = ctx.req;
    this.handedOver = req.readableDidRead || req.readableEnded;
    this.input = this.handedOver ? parsedBodyInput(environ, parsedOf(ctx), PARSED) : environ['ngi.input'];
    owner.input = this;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (!this.handedOver) this.owner.inputUsed = true;
    return this.input[Symbol.asyncIterator]();
  }

  /**
   * For a response the callable gave (or failed to give), not passed on: what it left of the
   * body, read or not, is drained once Koa's response has finished, up to `drainLimit` (§12.3).
   * Node would read an unread body to its end, however long.
   */
  drainAfterResponse(): void {
    drainAfterResponse(this.ctx.req, this.ctx.res, this.drainLimit);
  }
}

/** What @koa/bodyparser and koa-bodyparser leave: the parsed body, and the raw text as `rawBody`. */
function parsedOf(ctx: Context): ParsedBody {
  const request = ctx.request as ParsedBody;
  const req = ctx.req as ParsedBody;
  return { body: request.body !== undefined ? request.body : req.body, rawBody: request.rawBody ?? req.rawBody };
}

const PARSED: ParsedBodyOptions = { message: consumedMessage };

function consumedMessage(failure: ParsedBodyFailure, kind: string): string {
  const left =
    failure === 'unserializable'
      ? `kept no raw body (ctx.request.rawBody), and its ctx.request.body (${kind}) cannot be turned back into bytes`
      : 'kept no body (ctx.request.rawBody, ctx.request.body) to hand over';
  return (
    `@ngi/koa: the request body was already read by an earlier Koa middleware (a body parser?) that ${left}; ` +
    'mount the callable before that middleware'
  );
}
