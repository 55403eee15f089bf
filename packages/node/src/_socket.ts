import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex, getDefaultHighWaterMark } from 'node:stream';
import { reportedInside, type Chunk, type Environ } from '@ngi/core';
import { connectionOf } from './_environ.ts';
import { clearNeedDrain } from './_outgoing.ts';

/** What the socket reports to the exchange that owns it. */
export interface SocketOwner {
  /** The environ of the request on this socket. */
  readonly environ: Environ;
  /**
   * The connection is gone: `destroy()` was called on the socket, the request or the response.
   * Returns whether what is still queued goes out all the same (a response the listener ended).
   */
  socketClosed(error: Error | null): boolean;
  /** A `setTimeout()` timer fired; returns whether `req` or `res` listened. */
  socketTimedOut(): boolean;
}

/** A write the server has not taken yet; `chunk` is undefined for an empty write kept for its callback. */
interface Pending {
  chunk: Chunk | undefined;
  size: number;
  callback: (() => void) | null;
}

const OPTIONS = { allowHalfOpen: true } as const;
const HIGH_WATER_MARK = getDefaultHighWaterMark(false);

/**
 * The connection a synthetic `IncomingMessage`/`ServerResponse` pair sits on. No bytes pass
 * through its stream sides: the request body is pushed into `req` (`_incoming.ts`) and the
 * response's writes land in this socket's send queue (`_outgoing.ts`), where the NGI server
 * takes them one at a time. It is a real `Duplex` because Node's http code reaches into
 * stream state (`_writableState.corked` in `res.end()`, `finished()` in `req._destroy()`),
 * and it has the `net.Socket` fields frameworks read (Express's `req.ip`); an https request's
 * is an `NgiTlsSocket` (`_tls-socket.ts`).
 */
export class NgiSocket extends Duplex {
  declare remoteAddress: string | undefined;
  declare remotePort: number | undefined;
  declare remoteFamily: string | undefined;
  /** What `setTimeout()` set last, as on a `net.Socket`; undefined before. */
  declare timeout: number | undefined;
  declare readonly owner: SocketOwner;
  declare _httpMessage: ServerResponse | null;
  readonly connecting = false;
  readonly pending = false;
  /** Bytes written and not yet taken by the server: what `writableLength` reports. */
  pendingBytes = 0;
  /**
   * The response body bytes the listener wrote, counted at the write as a real socket counts
   * what it buffers. Without the head, which real sockets count too: here it goes to
   * startResponse as data, and the NGI server writes it (with its own fields, or compressed
   * over HTTP/2), so its size on the wire is not known here.
   */
  bytesWritten = 0;
  /** The request body bytes delivered to `req`; without the head, for the same reason. */
  bytesRead = 0;
  private queue: Pending[] = [];
  /** The chunk the server holds; it counts as flushed when the server asks for the next. */
  private inflight: Pending | undefined = undefined;
  private needDrain = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Why an NGI server inside the listener dropped this connection, reported there (§11.2). */
  dropped: Error | undefined = undefined;

  constructor(owner: SocketOwner, environ: Environ) {
    super(OPTIONS);
    this.owner = owner;
    const address = environ.REMOTE_ADDR;
    this.remoteAddress = address;
    this.remoteFamily = address === undefined ? undefined : address.includes(':') ? 'IPv6' : 'IPv4';
    this.remotePort = environ.REMOTE_PORT === undefined ? undefined : Number(environ.REMOTE_PORT);
  }

  // The local end is the connection's the environ was made from, read when asked for; for an
  // environ made elsewhere, only the port is known (SERVER_PORT).
  get localAddress(): string | undefined {
    return connectionOf(this.owner.environ)?.localAddress;
  }

  get localFamily(): string | undefined {
    return connectionOf(this.owner.environ)?.localFamily;
  }

  get localPort(): number {
    return connectionOf(this.owner.environ)?.localPort ?? Number(this.owner.environ.SERVER_PORT);
  }

  /**
   * Queues a write of the response body; `false` asks the writer to wait for 'drain', as a
   * real socket past its high-water mark does.
   */
  enqueue(data: string | Uint8Array, encoding: BufferEncoding | null, callback: (() => void) | null): boolean {
    const size = data.length;
    if (size === 0) {
      if (callback !== null) {
        if (this.pendingBytes === 0) process.nextTick(callback);
        else this.queue.push({ chunk: undefined, size: 0, callback });
      }
    } else {
      const utf8 = encoding === null || encoding === 'utf8' || encoding === 'utf-8';
      const chunk = typeof data === 'string' && !utf8 ? Buffer.from(data, encoding) : data;
      this.bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
      this.pendingBytes += size;
      this.queue.push({ chunk, size, callback });
      this.active();
    }
    if (this.pendingBytes < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  /**
   * The server asks for the next chunk: the one it holds is flushed, so its write callback
   * runs and 'drain' may follow (on the next tick, as after a socket write). Returns the next
   * chunk, or undefined when nothing is queued.
   */
  shiftChunk(): Chunk | undefined {
    const taken = this.inflight;
    if (taken !== undefined) {
      this.inflight = undefined;
      this.pendingBytes -= taken.size;
      if (taken.callback !== null) process.nextTick(taken.callback);
    }
    const queue = this.queue;
    while (queue.length > 0 && queue[0]!.size === 0) process.nextTick(queue.shift()!.callback!);
    if (this.needDrain && this.pendingBytes < HIGH_WATER_MARK) {
      this.needDrain = false;
      process.nextTick(emitDrain, this._httpMessage);
    }
    const next = queue.shift();
    if (next === undefined) return undefined;
    this.inflight = next;
    this.active();
    return next.chunk;
  }

  /** Bytes moved: a `setTimeout()` timer starts over, as a real socket's does on reads and writes. */
  active(): void {
    this.timer?.refresh();
  }

  /** Nothing more will be taken: writes complete at once from now on (a bodiless response). */
  discard(): void {
    for (const pending of this.queue) if (pending.callback !== null) process.nextTick(pending.callback);
    this.queue.length = 0;
    this.inflight = undefined;
    this.pendingBytes = 0;
  }

  get readyState(): string {
    return this.destroyed ? 'closed' : 'open';
  }

  address(): AddressInfo | {} {
    return connectionOf(this.owner.environ)?.address() ?? { address: '', family: this.remoteFamily ?? 'IPv4', port: this.localPort };
  }

  /** An inactivity timer in the spirit of `net.Socket#setTimeout`: 'timeout' reaches `req`, `res` and the socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    this.timeout = ms;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = ms > 0 && !this.destroyed ? setTimeout(onTimeout, ms, this).unref() : undefined;
    return this;
  }

  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  destroySoon(): void {
    this.destroy();
  }

  // Request bytes never pass through the socket: `req._read` pulls `ngi.input` directly.
  override _read(): void {}

  // A listener writing to `req.socket` itself (a hand-rolled upgrade or raw response) has no
  // wire to reach: fail now, rather than leave the client waiting for a response never coming.
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.destroy(rawWriteError());
    callback();
  }

  // `req.socket.end()` closes the connection, as on a real server: a response the listener
  // ended still goes out whole, an unfinished one fails.
  override _final(callback: (error?: Error | null) => void): void {
    callback();
    this.destroy();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // The error an NGI server inside dropped the connection for was reported there, also when
    // its host destroys the connection with it (Koa's pipeline).
    const reported = this.dropped !== undefined && (error === null || error === this.dropped) ? reportedInside(this.dropped) : error;
    if (!this.owner.socketClosed(reported)) {
      this.queue.length = 0;
      this.inflight = undefined;
      this.pendingBytes = 0;
    }
    // The error reached the exchange; re-emitting it as 'error' would crash a process whose
    // listener (unlike a real http.Server) has no 'error' handler on its sockets.
    callback(null);
  }
}

// `res.end()` and `res.writableFinished` consult `socket.writableLength` to know whether
// everything written has been flushed; here "flushed" means taken by the NGI server.
Object.defineProperty(NgiSocket.prototype, 'writableLength', {
  configurable: true,
  get(this: NgiSocket): number {
    return this.pendingBytes;
  },
});

/** As http.Server's socketOnDrain: 'drain' only for a response whose write() returned false. */
function emitDrain(res: ServerResponse | null): void {
  if (res == null || res.destroyed || res.writableEnded) return;
  clearNeedDrain(res);
  res.emit('drain');
}

function onTimeout(socket: NgiSocket): void {
  // As http.Server's socketOnTimeout, the socket's first 'timeout' listener: a timeout neither
  // `req` nor `res` listens to closes the connection, before the socket's own listeners run.
  if (!socket.owner.socketTimedOut()) socket.destroy();
  socket.emit('timeout');
}

/** Why the body fails when the connection closed before the response ended. */
export function prematureClose(): Error {
  return Object.assign(new Error('The response was closed before it ended'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

function rawWriteError(): Error {
  return new Error('fromNodeListener: the listener wrote to req.socket itself; an NGI response passes only through res, so a raw response or a protocol upgrade (WebSocket) cannot');
}

/** What Node's http.Server destroys an unfinished request with when its connection closes. */
export function abortedError(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}
