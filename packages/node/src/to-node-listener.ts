import type { ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import { HttpError, runApp, type Application, type ErrorStream, type HeaderList, type ResponseSink } from '@ngi/core';
import { environFrom, releaseInput, type NodeRequest, type NodeResponse } from './_environ.ts';

export interface ToNodeListenerOptions {
  /**
   * Where `ngi.errors` writes.
   * @default process.stderr
   */
  errors?: ErrorStream;
  /**
   * The most bytes of an unread request body drained after the response so the
   * connection can be reused (§12.3); past it the connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number;
  /**
   * `ngi.multiprocess`: whether other processes serve the same application.
   * @default false
   */
  multiprocess?: boolean;
}

/** A `node:http`, `node:https` or `node:http2` (compatibility API) request listener. */
export type NodeListener = (req: NodeRequest, res: NodeResponse) => void;

const stderrErrors: ErrorStream = {
  write: (message) => void process.stderr.write(message),
  flush() {},
};

/** Serves an NGI application from Node's `(req, res)`; the server side of the contract is `runApp`'s. */
export function toNodeListener(app: Application, options: ToNodeListenerOptions = {}): NodeListener {
  const errors = options.errors ?? stderrErrors;
  const drainLimit = options.drainLimit ?? 1024 * 1024;
  const multiprocess = options.multiprocess ?? false;
  return (req, res) => {
    const controller = new AbortController();
    // Abort only when the client leaves before the response is done, not after it (srvx#152).
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('The client disconnected'));
    });
    res.once('finish', () => drainRequest(req, drainLimit));
    let environ;
    try {
      environ = environFrom(req, res, controller.signal, errors, multiprocess);
    } catch (error) {
      return sendError(res, error);
    }
    void runApp(app, environ, sinkOf(res));
  };
}

function sinkOf(res: NodeResponse): ResponseSink {
  const http2 = res instanceof Http2ServerResponse;
  return {
    head(status, reason, headers, flush) {
      // HTTP/2's writeHead sends the head at once; HTTP/1's waits for the first write.
      if (http2) (res as Http2ServerResponse).writeHead(status, headerObject(headers));
      else if (flush) (res as ServerResponse).writeHead(status, reason, headers.flat()).flushHeaders();
      else (res as ServerResponse).writeHead(status, reason, headers.flat());
    },
    write(bytes) {
      if ((res as ServerResponse).write(bytes)) return;
      return new Promise((resolve) => res.once('drain', resolve));
    },
    end() {
      res.end();
    },
    destroy() {
      res.destroy();
    },
  };
}

/** HTTP/2 takes repeated headers as arrays; it has no reason phrase. */
function headerObject(headers: HeaderList): Record<string, string | string[]> {
  const object: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const previous = object[key];
    object[key] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  return object;
}

/**
 * Node reads and discards what the application left of the request body once the
 * response is finished; bound that, or a huge upload holds the connection (hono#246).
 */
function drainRequest(req: NodeRequest, limit: number): void {
  if (req.complete || req.destroyed) return;
  releaseInput(req);
  let drained = 0;
  req.on('data', (chunk: Uint8Array) => {
    drained += chunk.byteLength;
    if (drained > limit) req.socket.destroy();
  });
  req.resume();
}

function sendError(res: NodeResponse, error: unknown): void {
  const status = error instanceof HttpError ? error.status : 500;
  const message = error instanceof HttpError ? error.message : 'Internal Server Error';
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(message) });
  res.end(message);
}
