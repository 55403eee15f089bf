import { AsyncLocalStorage } from 'node:async_hooks';
import { isThenable, type Application, type Chunk, type Middleware, type ResponseBody } from '@ngi/core';

/** A site's settings: the exports of its settings module, or any object. */
export type Settings = Readonly<Record<string, unknown>>;

// One store per request chain, never a module-level "current site": two sites in one process
// each see their own settings, which environment variables (process-wide) cannot give. One
// store per process, shared by every copy of this module: CommonJS code that requires `ngi`
// under `ngi serve` gets a copy of its own (the loader compiles it again for `require`).
const STORE = Symbol.for('ngi.settings');
const store = ((globalThis as { [STORE]?: AsyncLocalStorage<Settings> })[STORE] ??= new AsyncLocalStorage<Settings>());

/**
 * The settings of the site whose code is running: inside an application bound by
 * `loadApplication(spec, { settings })` or `withSettings`, in its body's iteration and
 * `close()`, and in what it schedules from there. Throws outside any site.
 */
export function getSettings<TSettings extends object = Settings>(): TSettings {
  const settings = store.getStore();
  if (settings === undefined) {
    throw new Error('getSettings() was called outside an application bound to settings (see loadApplication and withSettings)');
  }
  return settings as TSettings;
}

/** Runs `fn` (and everything it schedules) with `settings` as what `getSettings()` returns. */
export function runWithSettings<T>(settings: Settings, fn: () => T): T {
  return store.run(settings, fn);
}

/**
 * Middleware binding an application to `settings`: its call, every step of its body and
 * its `close()` run with them, since a body is iterated by the server after the call returned.
 */
export function withSettings(settings: Settings): Middleware {
  return (app: Application): Application =>
    (environ, startResponse) =>
      store.run(settings, () => {
        const result = app(environ, startResponse);
        return isThenable(result) ? Promise.resolve(result).then((body) => bindBody(body, settings)) : bindBody(result, settings);
      });
}

/** The body with each `next`/`return`/`throw` and `close` run in the site's context (§9.1 order kept). */
function bindBody(body: ResponseBody, settings: Settings): ResponseBody {
  // An array runs no code while it is iterated; left as it is, it keeps the server's fast path.
  if (Array.isArray(body) || body === null || typeof body !== 'object') return body;
  const bound = (Symbol.iterator in body
    ? { [Symbol.iterator]: () => bindIterator(store.run(settings, () => (body as Iterable<Chunk>)[Symbol.iterator]()), settings) }
    : {
        [Symbol.asyncIterator]: () =>
          bindIterator(store.run(settings, () => (body as AsyncIterable<Chunk>)[Symbol.asyncIterator]()), settings),
      }) as ResponseBody;
  const close = body.close;
  if (typeof close === 'function') bound.close = boundClose(body, close, settings);
  return bound;
}

/** Sync and async iterators alike: the methods are only called through, never awaited here. */
type AnyIterator = {
  next(): unknown;
  return?: ((value?: unknown) => unknown) | undefined;
  throw?: ((error?: unknown) => unknown) | undefined;
};

type Close = NonNullable<ResponseBody['close']>;

// Functions are made in object literals or returned, never assigned straight to a property: V8
// would allocate those in the old generation until the code is optimized (see core's Exchange).
function boundClose(body: ResponseBody, close: Close, settings: Settings): Close {
  return () => store.run(settings, () => close.call(body));
}

function bindIterator<T>(iterator: T, settings: Settings): T {
  const inner = iterator as AnyIterator;
  // An absent `return` or `throw` stays undefined, which the iteration protocols take as absent.
  const bound: AnyIterator = {
    next: () => store.run(settings, () => inner.next()),
    return: typeof inner.return === 'function' ? (value) => store.run(settings, () => inner.return!(value)) : undefined,
    throw: typeof inner.throw === 'function' ? (error) => store.run(settings, () => inner.throw!(error)) : undefined,
  };
  return bound as T;
}
