import { Http2ServerResponse } from 'node:http2';
import type { NodeResponse } from './_environ.ts';

/** Aborts when the response closes unfinished: the client left, not a normal end (srvx#152). */
export function signalOf(res: NodeResponse): AbortSignal {
  const controller = new AbortController();
  onClientLeft(res, () => controller.abort(new Error('The client disconnected')));
  return controller.signal;
}

/**
 * Calls `callback` once the response closes before it is whole (at once if it has): the client
 * went away. Never after a normal end (srvx#152), over HTTP/1 or HTTP/2. One 'close' listener
 * per response serves every callback: callables mounted one after another in a framework each
 * watch it, and Node warns past ten listeners.
 */
export function onClientLeft(res: NodeResponse, callback: () => void): void {
  if (clientLeft(res)) return callback();
  let callbacks = leaveCallbacks.get(res);
  if (callbacks === undefined) {
    const list: (() => void)[] = (callbacks = []);
    leaveCallbacks.set(res, list);
    res.once('close', () => finished(res) || list.forEach(call));
  }
  callbacks.push(callback);
}

const leaveCallbacks = new WeakMap<NodeResponse, (() => void)[]>();

function call(callback: () => void): void {
  callback();
}

/**
 * Whether a response went out whole. HTTP/2's compatibility response reports a stream the
 * client reset as finished too, so there what counts is that it was ended.
 */
export function finished(res: NodeResponse): boolean {
  return res instanceof Http2ServerResponse ? res.writableEnded : res.writableFinished;
}

/** Whether the response closed before it was whole: the client went away. */
export function clientLeft(res: NodeResponse): boolean {
  const closed = res instanceof Http2ServerResponse ? res.stream.destroyed : res.destroyed;
  return closed && !finished(res);
}
