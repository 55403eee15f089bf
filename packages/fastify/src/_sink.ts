import { STATUS_CODES, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { ResponseDiscarded, isCascadePass, toBytes, type Chunk, type HeaderList, type ResponseSink } from '@ngi/core';
import { checkHttp2Head, drainAfterResponse, dropResponse, endingResponse, isAsciiHead } from '@ngi/node';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { asError } from './_errors.ts';
import { mergeHeaders, unmergeHeaders } from './_headers.ts';
import type { RequestBody } from './_input.ts';
import { ResponseStream } from './_stream.ts';

/** What the sink needs from the plugin's options. */
export interface SinkSettings {
  fallthrough: boolean;
  drainLimit: number;
}

const SEND = 0;
/** The application declined the request (404 + `x-cascade: pass`): Fastify's not-found handler answers. */
const PASS = 1;
/** The application failed before its head: Fastify's error handler answers. */
const FAIL = 2;
type State = typeof SEND | typeof PASS | typeof FAIL;

const JSON_TYPE = /json/i;

/**
 * One request of an application mounted in Fastify: `runApp` keeps the server rules and sends
 * the response here, and this hands it to Fastify's reply pipeline — status and headers on
 * `reply`, the body through `reply.send()` — or to Fastify's not-found or error handler.
 */
export class FastifySink implements ResponseSink {
  /** The streamed request body, when the application could read one. */
  input: RequestBody | undefined = undefined;
  /** runApp's promise for this request. */
  running: Promise<void> | undefined = undefined;
  private passedOn = false;
  private state: State = SEND;
  private error: unknown = undefined;
  private stream: ResponseStream | undefined = undefined;
  /**
   * Chunks written before the stream opened, and their total length: a body that ends within
   * the same turn of the event loop (an Express `res.send` through `fromExpress`) goes to
   * `reply.send()` whole, not as a stream; one still running a turn later, or past 64 KiB, streams.
   */
  private pending: Chunk[] | undefined = undefined;
  private pendingLength = 0;
  /** The application gave a Content-Type. */
  private typed = false;
  /** A string body can go to Fastify as it is: its type says text Fastify sends as it is (not JSON), and the head is ASCII. */
  private plainText = false;
  /** The status before the application's head, its headers, and those set before that they replace or add to: for `unmergeHeaders`. */
  private statusBefore = 200;
  /** The reason phrase before the application's own (§6.1); null when it gave none. */
  private reasonBefore: string | undefined | null = null;
  private headers: HeaderList | undefined = undefined;
  earlier: Map<string, unknown> | undefined = undefined;

  constructor(
    private readonly request: FastifyRequest,
    private readonly reply: FastifyReply,
    private readonly settings: SinkSettings,
  ) {}

  /** An error before the head: Fastify's error handler answers it. */
  fail(error: unknown): void {
    this.error = asError(error);
    this.state = FAIL;
    this.end();
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    if (this.settings.fallthrough && this.input?.used !== true && isCascadePass(status, headers)) {
      this.state = PASS;
    } else {
      // Node's HTTP/2 refuses some heads only when the stream's first write sends them, where
      // nothing catches the error: refused here, it is Fastify's error handler's to answer (§11.1).
      if (this.request.raw.httpVersionMajor === 2) checkHttp2Head(status, headers);
      const reply = this.reply;
      this.statusBefore = reply.statusCode;
      this.headers = headers;
      // Fastify's code() takes 100–599 only; §6.1 allows up to 999.
      if (status <= 599) reply.code(status);
      else reply.raw.statusCode = status;
      // HTTP/2 has no reason phrase (§6.1): setting one there only makes Node warn.
      if (reason !== STATUS_CODES[status] && this.request.raw.httpVersionMajor < 2) {
        this.reasonBefore = reply.raw.statusMessage;
        reply.raw.statusMessage = reason;
      }
      const type = mergeHeaders(reply, headers, this);
      this.typed = type !== undefined;
      // A head with a Latin-1 octet: Node would send it as UTF-8 together with a string body.
      this.plainText = this.typed && isPlainText(type!) && isAsciiHead(reason, headers);
      if (flush) this.open(true);
    }
  }

  write(chunk: Chunk): void | Promise<void> {
    // Declined (§14.1): runApp stops the body at its first chunk and closes it, where taking and
    // dropping every chunk ran it to its end (an endless one held the request, and the event loop).
    if (this.state === PASS) {
      this.passOn();
      return Promise.reject(new ResponseDiscarded());
    }
    if (this.state !== SEND) return;
    if (this.stream !== undefined) return this.stream.send(chunk);
    if (this.pending === undefined) {
      this.pending = [];
      setImmediate(openPending, this);
    }
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.pendingLength >= BUFFER_LIMIT) return this.openPending();
  }

  /** Streams what was written so far, unless the body ended or the stream opened meanwhile. */
  openPending(): void | Promise<void> {
    const pending = this.pending;
    if (pending === undefined || this.stream !== undefined) return;
    this.pending = undefined;
    const stream = this.open(false);
    // One promise for the caller to wait on: a stream already gone (open() destroyed it) rejects
    // it once, where a send() per chunk would leave rejections nobody handles.
    const last = pending.pop()!;
    for (const chunk of pending) stream.push(chunk);
    return stream.send(last);
  }

  /**
   * The application declined (§14.1): once runApp is done, and has closed its body, Fastify's
   * not-found handler answers. Only then is runApp's promise waited on: not on every request.
   */
  private passOn(): void {
    if (this.passedOn) return;
    this.passedOn = true;
    // `running` is set when runApp returns, which may come after this call: read a tick later.
    process.nextTick(() => void this.running!.then(() => this.callNotFound()));
  }

  private callNotFound(): void {
    if (this.reply.raw.destroyed) return;
    this.drain();
    this.reply.callNotFound();
  }

  /** What the application left of the request body is drained once the response is sent (§12.3). */
  private drain(): void {
    const input = this.input;
    this.input = undefined;
    if (input !== undefined) drainAfterResponse(this.request.raw, this.reply.raw, this.settings.drainLimit, (req) => input.release(req));
  }

  end(last?: Chunk): void {
    if (this.state === PASS) return this.passOn();
    this.drain();
    if (this.state === FAIL) {
      process.nextTick(sendError, this.reply, this.error);
    } else if (this.stream !== undefined) {
      // Nothing waits on the last chunk: a stream already gone (the client left) must not leave
      // its rejection unhandled, which would end the process.
      if (last !== undefined) this.stream.send(last)?.catch(ignore);
      this.stream.push(null);
    } else {
      // The body is sent whole from here: a client that left before stays gone for ngi.signal.
      endingResponse(this.reply.raw);
      const pending = this.pending;
      if (pending !== undefined) {
        this.pending = undefined;
        if (last !== undefined) pending.push(last);
        last = pending.length === 1 ? pending[0] : Buffer.concat(pending.map(toBytes));
      }
      // A whole body at once (the common `[chunk]`): Fastify sets its Content-Length if the app did
      // not. A string goes as it is — Node then writes head and body in one go — unless Fastify
      // would treat it as JSON (adding a charset) or give it a type: then as bytes, sent untouched.
      if (last !== undefined && !this.typed && !this.reply.hasHeader('content-type')) return this.sendUntyped(last);
      this.reply.send(typeof last === 'string' && !this.plainText ? Buffer.from(last) : last);
    }
  }

  /**
   * A whole body without a Content-Type, which Fastify would label `application/octet-stream`
   * (a Buffer) or `text/plain` (a string), where the application, and an NGI server, send none:
   * as a stream, which Fastify leaves untyped, with its length.
   */
  private sendUntyped(last: Chunk): void {
    const bytes = toBytes(last);
    if (!this.reply.hasHeader('content-length')) this.reply.header('content-length', String(bytes.byteLength));
    this.reply.send(Readable.from([bytes]));
  }

  destroy(error: unknown): boolean {
    this.pending = undefined;
    if (this.state === PASS) {
      this.passOn();
      return false;
    }
    // Nothing reached Fastify yet (the body was held back to go whole): the client still gets
    // an answer from its error handler (§11.1), where dropping would leave it none at all.
    if (this.stream === undefined && !this.reply.sent && !this.reply.raw.destroyed) {
      // The error page is not the response the application's head described.
      if (this.headers !== undefined) unmergeHeaders(this.reply, this.headers, this);
      this.reply.raw.statusCode = this.statusBefore;
      // As it was: unset (undefined) or '', Node gives the error page's status its own phrase.
      if (this.reasonBefore !== null) this.reply.raw.statusMessage = this.reasonBefore ?? '';
      this.fail(error);
      return true;
    }
    const res = this.reply.raw;
    const stream = this.stream;
    // §10.1, §11.2: what the body has goes out before the connection is dropped (a client that
    // left has nothing to wait for), as from an NGI server.
    if (stream === undefined || res.destroyed) drop(res, stream, error);
    else stream.dropAfterRead(() => drop(res, stream, error));
    return false;
  }

  /** Starts the streamed body: `reply.send()` of a stream the chunks are pushed into. */
  private open(flush: boolean): ResponseStream {
    const stream = (this.stream = new ResponseStream());
    // §8.3: the head must go now. Fastify writes it with the first chunk, so flush it as soon as
    // the pipeline (after any onSend hook) pipes its stream into the response.
    if (flush) this.reply.raw.once('pipe', flushHead);
    // Fastify answered already (a handlerTimeout 503): nothing will read the stream, so writes fail.
    if (this.reply.sent) stream.discard();
    else {
      this.reply.send(stream);
      // An onSend hook may send another payload in its place: then nothing reads or destroys the
      // stream, and the body would wait on it for ever. Once the response is over, writes fail and
      // runApp stops the body and closes it (§9.4, §9.5); quietly when the response went out whole.
      const res = this.reply.raw;
      res.once('close', () => {
        if (stream.readableEnded) return;
        if (res.writableFinished) stream.discard();
        else stream.destroy();
      });
    }
    return stream;
  }
}

// The type tested last: an application mostly answers with the same few.
let lastType = '';
let lastPlain = false;

/** Whether Fastify sends a string of this type as it is: not JSON, which it would serialize. */
function isPlainText(type: string): boolean {
  if (type !== lastType) {
    lastType = type;
    lastPlain = !JSON_TYPE.test(type);
  }
  return lastPlain;
}

/** The most bytes of body held back before the response is streamed. */
const BUFFER_LIMIT = 64 * 1024;

function openPending(sink: FastifySink): void {
  // Nothing waits on this turn's writes; a stream that is gone is the next write's to report.
  sink.openPending()?.catch(ignore);
}

function ignore(): void {}

/** Drops the response as an NGI server does (§11.2: it never looks complete), and stops the stream. */
function drop(res: FastifyReply['raw'], stream: ResponseStream | undefined, error: unknown): void {
  dropResponse(res, error);
  stream?.destroy();
}

function flushHead(this: ServerResponse): void {
  this.flushHeaders();
}

function sendError(reply: FastifyReply, error: Error): void {
  reply.send(error);
}
