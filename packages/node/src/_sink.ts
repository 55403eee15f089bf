import type { ServerResponse } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { Chunk, HeaderList, ResponseSink } from '@ngi/core';
import { releaseInput, type NodeRequest, type NodeResponse } from './_environ.ts';

/** Sends what `runApp` produces to a Node response; one per request, methods on the prototype. */
export class NodeSink implements ResponseSink {
  private readonly http2: boolean;

  constructor(
    private readonly req: NodeRequest,
    private readonly res: NodeResponse,
    private readonly drainLimit: number,
    private readonly hasBody: boolean,
  ) {
    this.http2 = res instanceof Http2ServerResponse;
  }

  head(status: number, reason: string, headers: HeaderList, flush: boolean): void {
    // HTTP/2's writeHead sends the head at once; HTTP/1's waits for the first write.
    if (this.http2) (this.res as Http2ServerResponse).writeHead(status, headerObject(headers));
    else if (flush) (this.res as ServerResponse).writeHead(status, reason, flatten(headers)).flushHeaders();
    else (this.res as ServerResponse).writeHead(status, reason, flatten(headers));
  }

  write(chunk: Chunk): void | Promise<void> {
    const res = this.res as ServerResponse;
    if (res.write(chunk)) return;
    return new Promise((resolve) => res.once('drain', resolve));
  }

  end(last?: Chunk): void {
    if (last === undefined) this.res.end();
    else (this.res as ServerResponse).end(last);
    // A GET is not yet `complete` while its handler runs; only a request with a body can need draining.
    if (this.hasBody && !this.req.complete) this.res.once('finish', () => drainRequest(this.req, this.drainLimit));
  }

  destroy(): void {
    this.res.destroy();
  }
}

/** `[[k, v], …]` as Node's raw `[k, v, …]`, which keeps repeats; `Array#flat` is several times slower. */
function flatten(headers: HeaderList): string[] {
  const flat = new Array<string>(headers.length * 2);
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!;
    flat[2 * i] = pair[0];
    flat[2 * i + 1] = pair[1];
  }
  return flat;
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
