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
    // First among the 'close' listeners: one before it may end the closed response (a host
    // middleware), after which it would look finished.
    res.prependOnceListener('close', () => clientLeft(res) && list.forEach(call));
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
  return closed && (!finished(res) || endedAfterLeaving.has(res)) && !answeredElsewhere.has(res);
}

/**
 * Responses given up before their head for the error their application handed to the host's
 * error handlers (`toExpress`'s `next(err)`), when that same error went on to be answered
 * outside (`fromExpress`'s listener failed with it: the NGI server outside answers the 500).
 * Closed unfinished then, they are no client leaving (§4.6) for the application, which is done.
 */
const answeredElsewhere = new WeakSet<NodeResponse>();
/** The error each response's application handed to the host's error handlers. */
const handedErrors = new WeakMap<NodeResponse, unknown>();

/** For a sink that hands its application's error before the head to the host's error handlers. */
export function answerElsewhere(res: NodeResponse, error: unknown): void {
  handedErrors.set(res, error);
}

/** For `fromNodeListener`, whose listener failed with `error` before its head: if it is the one handed on, `res` closing aborts no signal. */
export function failedWithHanded(res: NodeResponse, error: unknown): void {
  if (handedErrors.has(res) && handedErrors.get(res) === error) answeredElsewhere.add(res);
}

/** Responses ended after their client left, which then look finished (`writableFinished`). */
const endedAfterLeaving = new WeakSet<NodeResponse>();

/**
 * For whoever ends `res`: call it first, so that a client that left before stays gone for
 * `clientLeft` (and a signal first read later aborts), though ending a closed response makes it
 * look finished.
 */
export function endingResponse(res: NodeResponse): void {
  if (clientLeft(res)) endedAfterLeaving.add(res);
}
