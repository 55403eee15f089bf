import { toBytes, type Chunk, type HeaderList, type ResponseSink } from '@ngi/core';

// Statuses a fetch Response must carry without a body (Fetch "null body status").
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Response bodies `toFetch` failed with an error its runApp reported (§11.2). */
export const failedReported = new WeakSet<ReadableStream>();

/**
 * Where `runApp` sends the response of `toFetch`: a `Response` that resolves at the head, with
 * a body stream the application fills as the consumer reads. The stream keeps no buffer of its
 * own (highWaterMark 0), so the application runs at the reader's pace (srvx#208 shows the
 * deadlock an unforwarded backpressure causes).
 */
export class FetchSink implements ResponseSink {
  readonly response: Promise<Response>;
  #resolve!: (response: Response) => void;
  #settled = false;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined = undefined;
  /**
   * What writes wait on until the reader wants more, and what wakes them: writes made without
   * awaiting each other (§7.1) share one promise, so the client is watched once for all.
   */
  #waited: Promise<void> | undefined = undefined;
  #wakeWaiting: (() => void) | undefined = undefined;
  /** The response body, once there is one. */
  #stream: ReadableStream<Uint8Array> | undefined = undefined;
  /** Nothing more goes into the stream: ended, failed, cancelled, or there is no stream. */
  #closed = false;
  /** The application's response is over: runApp ended or destroyed it. */
  over = false;

  constructor(
    readonly method: string,
    /** The consumer cancelled the body before its end: the client is gone (§12.1). */
    readonly onCancel: (reason: unknown) => void,
    /** The response is over, normally or not. */
    readonly onDone: () => void,
  ) {
    this.response = new Promise((resolve) => (this.#resolve = resolve));
  }

  head(status: number, reason: string, headers: HeaderList): void {
    // A Response cannot carry a code above 599; NGI allows them (§6.1).
    if (status > 599) throw new TypeError(`toFetch: a fetch Response cannot have status ${status}`);
    const init: ResponseInit = { status, statusText: reason, headers: toHeaders(headers) };
    if (this.method === 'HEAD' || NULL_BODY.has(status)) {
      this.#closed = true;
      return this.#settle(new Response(null, init));
    }
    const stream = (this.#stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => void (this.#controller = controller),
        pull: () => this.#wake(),
        cancel: (why) => this.#cancel(why),
      },
      { highWaterMark: 0 },
    ));
    this.#settle(new Response(stream, init));
  }

  /**
   * Queues the chunk; it goes straight to a waiting read if there is one. Otherwise the write
   * waits until the reader asks for more, so at most one chunk sits in the stream. A caller that
   * does not wait (runApp's own error page) still gets its chunks out in order.
   */
  write(chunk: Chunk): void | Promise<void> {
    if (this.#closed) return;
    const controller = this.#controller!;
    controller.enqueue(toBytes(chunk));
    if (controller.desiredSize! >= 0) return;
    return (this.#waited ??= new Promise((resolve) => (this.#wakeWaiting = resolve)));
  }

  end(last?: Chunk): void {
    if (!this.#closed) {
      this.#closed = true;
      if (last !== undefined) this.#controller!.enqueue(toBytes(last));
      this.#controller!.close();
    }
    this.over = true;
    this.onDone();
  }

  /** Before the head: a 500 (the cause is in `ngi.errors` already). After it: the body stream errors, a cut connection's equivalent (§11.2). */
  destroy(error: unknown): void {
    if (!this.#settled) {
      this.#closed = true;
      this.#settle(new Response('Internal Server Error', { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
    } else if (!this.#closed) {
      this.#closed = true;
      // Reported by this runApp: a fromFetch server reading this very stream does not report it again.
      failedReported.add(this.#stream!);
      this.#controller!.error(error);
    }
    this.#wake();
    this.over = true;
    this.onDone();
  }

  #settle(response: Response): void {
    this.#settled = true;
    this.#resolve(response);
  }

  #wake(): void {
    const wake = this.#wakeWaiting;
    this.#waited = this.#wakeWaiting = undefined;
    wake?.();
  }

  #cancel(reason: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.onCancel(reason);
  }
}

function toHeaders(list: HeaderList): Headers {
  const headers = new Headers();
  for (const [name, value] of list) headers.append(name, value);
  return headers;
}
