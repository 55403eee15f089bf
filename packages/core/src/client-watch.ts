import type { Environ } from './types.ts';

/**
 * `environ[abortWatchSymbol]`: how a server that makes `ngi.signal` on first read lets the
 * server side of the contract (`runApp`, an adapter waiting on an application) learn that the
 * client went away without making the signal, whose AbortController costs more than the rest
 * of a request. It speaks for the environ only while `ngi.signal` is still the server's getter:
 * a copy or a replaced signal is watched through `ngi.signal` itself.
 */
export const abortWatchSymbol: unique symbol = Symbol.for('ngi.abort_watch');

/** Something told once that the client went away, as an 'abort' listener object is. */
export interface ClientListener {
  handleEvent(): void;
}

export interface AbortWatch {
  /** The accessor that makes the environ's `ngi.signal`. */
  readonly getter: () => AbortSignal;
  /** Whether the client has gone away (`ngi.signal` would be aborted). */
  aborted(environ: Environ): boolean;
  /** Tells `listener` once when the client goes away; returns what stops watching. */
  watch(environ: Environ, listener: ClientListener): () => void;
  /**
   * A copy of the environ, as `{ ...environ }` makes it, whose `ngi.signal` is still the lazy
   * getter and gives the request's one signal (see {@link copyEnviron}).
   */
  copy?(environ: Environ): Environ;
}

/** The environ's watch, if it has one that still speaks for `ngi.signal`. */
export function abortWatchOf(environ: Environ): AbortWatch | undefined {
  const watch = (environ as { [abortWatchSymbol]?: AbortWatch })[abortWatchSymbol];
  if (watch === undefined) return undefined;
  return Object.getOwnPropertyDescriptor(environ, 'ngi.signal')?.get === watch.getter ? watch : undefined;
}

/**
 * A copy of environ for an inner application (§13.2), as `{ ...environ }` makes it, except
 * that a server's lazy `ngi.signal` stays lazy where the server's watch can copy its environs:
 * a spread reads it, and making an AbortSignal costs more than the rest of a small request (in
 * Node 20 it also outlives minor collections).
 */
export function copyEnviron(environ: Environ): Environ {
  const copy = abortWatchOf(environ)?.copy;
  return copy === undefined ? { ...environ } : copy(environ);
}

/** Whether the client has gone away, through the environ's watch if it has one. */
export function clientGone(environ: Environ): boolean {
  const watch = abortWatchOf(environ);
  return watch === undefined ? environ['ngi.signal'].aborted : watch.aborted(environ);
}

/**
 * Tells `listener` once when the client goes away (at once if it has), through the environ's
 * watch if it has one, else as an 'abort' listener of `ngi.signal`; returns what stops watching.
 */
export function onClientGone(environ: Environ, listener: ClientListener): () => void {
  const watch = abortWatchOf(environ);
  if (watch !== undefined) return watch.watch(environ, listener);
  return watchSignal(environ['ngi.signal'], listener);
}

/** `listener` as a once 'abort' listener of `signal`, told at once if it is aborted already. */
export function watchSignal(signal: AbortSignal, listener: ClientListener): () => void {
  if (signal.aborted) {
    listener.handleEvent();
    return ignore;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

function ignore(): void {}
