import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { abortWatchSymbol, watchSignal, type AbortWatch, type Environ, type ErrorStream } from '@ngi/core';
import { clientLeft, finished, signalOf } from './_client-left.ts';
import { EMPTY_INPUT } from './_input.ts';

/** A request from `node:http`, `node:https` or `node:http2` (compatibility API). */
export type NodeRequest = IncomingMessage | Http2ServerRequest;
/** A response from `node:http`, `node:https` or `node:http2` (compatibility API). */
export type NodeResponse = ServerResponse | Http2ServerResponse;

const VERSION = Object.freeze([1, 0] as const);

export const RESPONSE = Symbol('ngi.node.response');
const SIGNAL = Symbol('ngi.node.signal');
/** An adapter's own maker of `ngi.signal`, set by `setSignalSource`. */
const SOURCE = Symbol('ngi.node.signal_source');

/** What makes `ngi.signal` when it is first read. */
export interface SignalSource {
  /** Read once, when the application first reads `ngi.signal`. */
  readonly signal: AbortSignal;
}

/**
 * The environ the server made, from which its copies (made by `copyNodeEnviron` for core's
 * `copyEnviron`) take their request's one `ngi.signal`.
 */
const HOME = Symbol('ngi.node.home');

type NodeEnviron = Environ & {
  [HOME]: NodeEnviron;
  [RESPONSE]: NodeResponse;
  [SIGNAL]: AbortSignal | undefined;
  [SOURCE]: SignalSource | undefined;
  [abortWatchSymbol]: AbortWatch;
};

// An AbortSignal costs more than the rest of the environ together (whatwg-node PR #1884), and
// in Node 20 it outlives minor collections, so `ngi.signal` is made on first read. One shared
// getter keeps every environ on one shape.
function lazySignal(this: NodeEnviron): AbortSignal {
  const home = this[HOME];
  return (home[SIGNAL] ??= home[SOURCE]?.signal ?? signalOf(home[RESPONSE]));
}

/** An application may set `ngi.signal` as any other key (§2.1): it becomes a plain value. */
function replaceSignal(this: NodeEnviron, signal: AbortSignal): void {
  Object.defineProperty(this, 'ngi.signal', { value: signal, writable: true, enumerable: true, configurable: true });
}

/** `ngi.signal` as an enumerable, configurable accessor pair, one descriptor for every environ. */
const SIGNAL_PROPERTY: PropertyDescriptor = { get: lazySignal, set: replaceSignal, enumerable: true, configurable: true };

function defineSignal(environ: NodeEnviron): void {
  Object.defineProperty(environ, 'ngi.signal', SIGNAL_PROPERTY);
}

/**
 * How runApp and fromNodeListener learn that the client went away without making `ngi.signal`:
 * the response closing unfinished, as `signalOf` would abort it. Once the signal exists, or an
 * adapter's own source makes it (which can abort for other reasons), it is the signal.
 */
const nodeWatch: AbortWatch = {
  getter: lazySignal,
  aborted(environ) {
    const home = (environ as NodeEnviron)[HOME];
    if (home[SIGNAL] !== undefined || home[SOURCE] !== undefined) return environ['ngi.signal'].aborted;
    return clientLeft(home[RESPONSE]);
  },
  watch(environ, listener) {
    const home = (environ as NodeEnviron)[HOME];
    if (home[SIGNAL] !== undefined || home[SOURCE] !== undefined) return watchSignal(environ['ngi.signal'], listener);
    const res = home[RESPONSE];
    const closed = (): void => void (finished(res) || listener.handleEvent());
    res.once('close', closed);
    return () => void res.off('close', closed);
  },
  copy: copyNodeEnviron,
};

/**
 * A copy made as the server makes its environs, so it has the same shape and the same lazy
 * accessor, which gives the request's one signal (from `HOME`). A request's own keys (HTTP_*,
 * keys middleware added) fit in the space the constructor keeps for them: copied into a plain
 * `{}` one at a time, past a dozen V8 turns an object into a dictionary. Core's `copyEnviron`
 * calls it only while the accessor is in place: a signal a middleware put there is spread.
 */
function copyNodeEnviron(environ: Environ): Environ {
  const source = environ as NodeEnviron;
  const copy = newEnviron();
  const target = copy as unknown as Record<string | symbol, unknown>;
  const fixed = (fixedKeys ??= Object.keys(copy));
  const keys = Object.keys(source);
  let from = 0;
  if (startsWith(keys, fixed)) {
    // The usual environ, every fixed key in the constructor's order: copied by name, which
    // costs a fraction of a copy by computed key.
    copyFixed(source, copy);
    from = fixed.length;
  } else {
    // A fixed key the source no longer has (deleted by an application) is not in the copy either.
    for (const key of fixed) if (!Object.hasOwn(source, key)) delete target[key];
  }
  for (let i = from; i < keys.length; i++) {
    const key = keys[i]!;
    if (key !== 'ngi.signal') target[key] = source[key as keyof Environ];
  }
  // HOME among them: the copy's signal is the request's one.
  const symbols = Object.getOwnPropertySymbols(source);
  if (symbols.length === OWN_SYMBOLS.length && startsWith(symbols, OWN_SYMBOLS)) {
    copy[HOME] = source[HOME];
    copy[RESPONSE] = source[RESPONSE];
    copy[SIGNAL] = source[SIGNAL];
    copy[SOURCE] = source[SOURCE];
    copy[abortWatchSymbol] = source[abortWatchSymbol];
  } else {
    // Symbols an application added or deleted: as a spread would, the enumerable ones it has.
    for (const symbol of OWN_SYMBOLS) if (!symbols.includes(symbol)) delete target[symbol];
    for (const symbol of symbols) if (isEnumerable.call(source, symbol)) target[symbol] = (source as unknown as Record<symbol, unknown>)[symbol];
  }
  return copy;
}

/** The symbols every environ is made with, in the order it gets them. */
const OWN_SYMBOLS: readonly symbol[] = [HOME, RESPONSE, SIGNAL, SOURCE, abortWatchSymbol];
const isEnumerable = Object.prototype.propertyIsEnumerable;

/** Whether `keys` starts with `prefix`; keys are interned strings or symbols, so each test is a pointer compare. */
function startsWith<T extends string | symbol>(keys: readonly T[], prefix: readonly T[]): boolean {
  if (keys.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (keys[i] !== prefix[i]) return false;
  return true;
}

/** The constructor's string keys but `ngi.signal`, by name. */
function copyFixed(source: NodeEnviron, copy: NodeEnviron): void {
  copy.REQUEST_METHOD = source.REQUEST_METHOD;
  copy.SCRIPT_NAME = source.SCRIPT_NAME;
  copy.PATH_INFO = source.PATH_INFO;
  copy.QUERY_STRING = source.QUERY_STRING;
  copy.SERVER_NAME = source.SERVER_NAME;
  copy.SERVER_PORT = source.SERVER_PORT;
  copy.SERVER_PROTOCOL = source.SERVER_PROTOCOL;
  copy['ngi.version'] = source['ngi.version'];
  copy['ngi.url_scheme'] = source['ngi.url_scheme'];
  copy['ngi.input'] = source['ngi.input'];
  copy['ngi.errors'] = source['ngi.errors'];
  copy['ngi.multithread'] = source['ngi.multithread'];
  copy['ngi.multiprocess'] = source['ngi.multiprocess'];
  copy['ngi.run_once'] = source['ngi.run_once'];
  copy['ngi.raw_path'] = source['ngi.raw_path'];
}

/** The socket of the Node request `environ` was made from (a copy's too), or undefined for one made elsewhere. */
export function connectionOf(environ: Environ): NodeRequest['socket'] | undefined {
  return (environ as Partial<NodeEnviron>)[RESPONSE]?.socket ?? undefined;
}

/** Has `ngi.signal` come from `source` when first read, instead of from the response's 'close'. */
export function setSignalSource(environ: Environ, source: SignalSource): void {
  (environ as NodeEnviron)[HOME][SOURCE] = source;
}

/**
 * An environ's fixed keys, with placeholders `environFrom` replaces. A constructor, not an
 * object literal, and its objects are still plain (§2.1): its `prototype` is `Object.prototype`.
 * V8 tracks object literals by allocation site, and once it sees a site's objects outlive a
 * minor collection (requests in flight at the time), it allocates all that site's later objects
 * in the old generation. A dead environ there keeps its response, request and all they hold
 * alive until a full collection: under load, minor collections then copied most of every request.
 */
function PlainEnviron(this: NodeEnviron): void {
  this.REQUEST_METHOD = 'GET';
  this.SCRIPT_NAME = '';
  this.PATH_INFO = '';
  this.QUERY_STRING = '';
  this.SERVER_NAME = '';
  this.SERVER_PORT = '';
  this.SERVER_PROTOCOL = '';
  this['ngi.version'] = VERSION;
  this['ngi.url_scheme'] = 'http';
  this['ngi.input'] = EMPTY_INPUT;
  this['ngi.errors'] = stderrPlaceholder;
  this['ngi.multithread'] = false;
  this['ngi.multiprocess'] = false;
  this['ngi.run_once'] = false;
  this['ngi.raw_path'] = '';
  this[HOME] = this;
  this[RESPONSE] = undefined as unknown as NodeResponse;
  // Set later, if ever: made here, they change no environ's shape when they are.
  this[SIGNAL] = undefined;
  this[SOURCE] = undefined;
  this[abortWatchSymbol] = nodeWatch;
  defineSignal(this);
}
PlainEnviron.prototype = Object.prototype;

/** `PlainEnviron` as the constructor it is. */
const NewEnviron = PlainEnviron as unknown as new () => NodeEnviron;

/** The string keys every environ is made with, in order (`ngi.signal` last), known once one is made. */
let fixedKeys: string[] | undefined;

/** Replaced by `environFrom` before anyone sees an environ. */
const stderrPlaceholder: ErrorStream = { write() {}, flush() {} };

/** Environs made ahead, each handed out once (§2.1). */
const madeAhead: NodeEnviron[] = [];
const BATCH = 8;
/** Environs made one at a time so far, up to `SIZING`. */
let madeAlone = 0;
/**
 * V8 sizes a constructor's objects by the properties its first seven end up with, so the first
 * environs are made one at a time, and a request's own keys (REMOTE_ADDR, HTTP_*) then fit
 * inside later environs instead of in a separate, growing array.
 */
const SIZING = 8;

/**
 * A new environ, made in batches. Defining `ngi.signal`'s accessor is a call into V8's runtime
 * which, made once per request between Node's own work, cost about 5% of a hello world's
 * throughput; made for several environs in a row, about 2% (both measured with the two servers
 * of `bench/` at once; see its README). Small batches: an environ left waiting across two minor
 * collections is moved to the old generation.
 */
export function newEnviron(): NodeEnviron {
  return madeAhead.pop() ?? madeNow();
}

/** A batch made when the last ran out, kept apart so the per-request path stays short. */
function madeNow(): NodeEnviron {
  if (madeAlone < SIZING) {
    madeAlone++;
    return new NewEnviron();
  }
  for (let i = 1; i < BATCH; i++) madeAhead.push(new NewEnviron());
  return new NewEnviron();
}
