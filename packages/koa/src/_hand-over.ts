import type { ServerResponse } from 'node:http';
import { lowerCaseName, namedBefore, type Chunk } from '@ngi/core';
import type { Context } from 'koa';
import { isAsciiHead, mergeHeader } from '@ngi/node';
import { BodyStream } from './_body.ts';
import type { KoaExchange } from './_exchange.ts';

/**
 * Gives the callable's response to Koa the way a Koa middleware answers: `ctx.status`,
 * `ctx.set`, `ctx.body`. Koa sends it after the whole middleware chain has returned, so
 * compression, ETags, loggers and error handlers upstream see it and may change it, and Koa
 * never answers a second time (koa#1044, the koa-connect failure).
 */
export function handOver(ctx: Context, exchange: KoaExchange): void {
  // ctx.response's own setters: the same as ctx.status/ctx.body, without the delegation hop.
  const response = ctx.response;
  const res = ctx.res as ServerResponse;
  response.status = exchange.status;
  // Content-Type and Content-Length describe the callable's body: an upstream value or the one
  // Koa's body setter guesses goes. Koa measures a whole string or Buffer body itself, and
  // runApp has checked it against the declared length (§10.1).
  let type: string | undefined;
  let length: string | undefined;
  const headers = exchange.headers;
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    const lower = lowerCaseName(name);
    if (lower === 'content-type') type = value;
    else if (lower === 'content-length') {
      length = value; // set below once the body is known (§6.2: there is one)
      continue;
    }
    // As `ctx.set` does, in order, on Node's own methods: Koa's `response.append` asserts that
    // Content-Type has one value. `set-cookie` and `vary` add to what upstream middleware set.
    mergeHeader(res, name, lower, value, namedBefore(headers, i));
  }
  const body = bodyOf(exchange);
  response.body = body;
  if (type === undefined) res.removeHeader('content-type');
  if (ctx.req.method === 'HEAD' || body instanceof BodyStream) {
    // §10.3: a HEAD body is not empty, just unsent; a stream's length is the declared one.
    if (length !== undefined) res.setHeader('content-length', length);
    else res.removeHeader('content-length');
  }
  if (ctx.req.httpVersionMajor < 2 && res.statusMessage !== exchange.reason) response.message = exchange.reason;
  // §8.3: the head goes out before any event; Koa pipes the body only once every middleware is done.
  if (exchange.flush) res.once('pipe', flushHead);
}

/**
 * What `ctx.body` becomes: nothing for 204/304 (runApp sends no body for them, §10.3); the whole
 * body as a string or Buffer when the callable finished before Koa took over (the usual small
 * response, sent with a Content-Length); otherwise a stream the rest of the body flows into as
 * it is produced. A 205 is no exception: Koa drops its body, destroying a stream, which stops
 * the callable; with no stream, its chunks would pile up and it would wait forever.
 */
function bodyOf(exchange: KoaExchange): string | Buffer | BodyStream | null {
  const status = exchange.status;
  if (status === 204 || status === 304) return null;
  const chunks = exchange.chunks;
  if (exchange.ended) {
    if (chunks === undefined) return '';
    if (chunks.length > 1) return Buffer.concat(chunks.map(toBuffer));
    const chunk = chunks[0]!;
    // A head with a Latin-1 octet: Node would send it as UTF-8 together with a string body.
    return typeof chunk === 'string' && isAsciiHead(exchange.reason, exchange.headers) ? chunk : toBuffer(chunk);
  }
  const stream = (exchange.stream = new BodyStream(exchange));
  exchange.chunks = undefined;
  let ready = true;
  if (chunks !== undefined) for (const chunk of chunks) ready = stream.send(chunk);
  if (exchange.destroyed) stream.fail(exchange.destroyError);
  else if (ready) {
    exchange.bodyWanted();
  }
  return stream;
}

function toBuffer(chunk: Chunk): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function flushHead(this: ServerResponse): void {
  if (!this.headersSent) this.flushHeaders();
}
