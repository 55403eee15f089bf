import { describe, expect, it } from 'vitest';
import {
  abortWatchOf,
  abortWatchSymbol,
  cascade,
  clientGone,
  copyEnviron,
  createEnviron,
  mount,
  onClientGone,
  proxyFix,
  runApp,
  shiftPath,
  type AbortWatch,
  type Application,
  type ClientListener,
  type Environ,
} from '../src/index.ts';

/**
 * An environ as a server that makes `ngi.signal` lazily builds it: a getter that counts how
 * often the signal was made, and a watch driven by `leave()`.
 */
function lazyEnviron() {
  const controller = new AbortController();
  const listeners = new Set<ClientListener>();
  let gone = false;
  let made = 0;
  const getter = (): AbortSignal => (made++, controller.signal);
  const watch: AbortWatch = {
    getter,
    aborted: () => gone,
    watch(_environ, listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    // Every own property as it is, the lazy accessor too.
    copy: (environ) => Object.defineProperties({}, Object.getOwnPropertyDescriptors(environ)) as Environ,
  };
  const environ = createEnviron({ url: '/' }) as Environ & { [abortWatchSymbol]?: AbortWatch };
  Object.defineProperty(environ, 'ngi.signal', { get: getter, enumerable: true, configurable: true });
  environ[abortWatchSymbol] = watch;
  const leave = (): void => {
    gone = true;
    controller.abort(new Error('The client disconnected'));
    for (const listener of listeners) listener.handleEvent();
  };
  return { environ, watch, leave, listeners, made: () => made };
}

describe('watching the client without making ngi.signal', () => {
  it('the watch speaks for the environ only while ngi.signal is still its getter', () => {
    const { environ, watch } = lazyEnviron();
    expect(abortWatchOf(environ)).toBe(watch);
    const copy = { ...environ, 'ngi.signal': new AbortController().signal };
    expect(abortWatchOf(copy)).toBeUndefined();
    expect(abortWatchOf(createEnviron({ url: '/' }))).toBeUndefined();
  });

  it('§13.2 copyEnviron copies through the watch, which keeps the signal lazy; else as a spread does', () => {
    const lazy = lazyEnviron();
    const copy = copyEnviron(lazy.environ);
    expect(lazy.made()).toBe(0);
    expect(Object.keys(copy)).toEqual(Object.keys(lazy.environ));
    expect(abortWatchOf(copy)).toBe(lazy.watch);
    expect(copy['ngi.signal']).toBe(lazy.environ['ngi.signal']);
    copy.PATH_INFO = '/changed';
    expect(lazy.environ.PATH_INFO).toBe('/');
    // A watch that cannot copy, and an environ without a lazy signal: a spread.
    const unable = lazyEnviron();
    delete (unable.watch as { copy?: unknown }).copy;
    expect(Object.getOwnPropertyDescriptor(copyEnviron(unable.environ), 'ngi.signal')?.value).toBeInstanceOf(AbortSignal);
    const plain = createEnviron({ url: '/' });
    expect(copyEnviron(plain)).toEqual(plain);
  });

  it('§13.2 mount, cascade, proxyFix and shiftPath hand on a copy that has not made the signal', async () => {
    const seen: number[] = [];
    const inner: Application = (environ, startResponse) => {
      seen.push(typeof Object.getOwnPropertyDescriptor(environ, 'ngi.signal')?.get === 'function' ? 1 : 0);
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    for (const app of [mount({ '/': inner }), cascade([inner]), proxyFix()(inner)]) {
      const lazy = lazyEnviron();
      await runApp(app, lazy.environ, { head() {}, write() {}, end() {}, destroy() {} });
      expect(lazy.made()).toBe(0);
    }
    const lazy = lazyEnviron();
    shiftPath(lazy.environ, '/');
    expect([seen, lazy.made()]).toEqual([[1, 1, 1], 0]);
  });

  it('clientGone and onClientGone use the watch, else ngi.signal', () => {
    const lazy = lazyEnviron();
    const told: string[] = [];
    const unwatch = onClientGone(lazy.environ, { handleEvent: () => told.push('lazy') });
    expect([clientGone(lazy.environ), lazy.listeners.size]).toEqual([false, 1]);
    lazy.leave();
    expect([clientGone(lazy.environ), told]).toEqual([true, ['lazy']]);
    unwatch();
    expect(lazy.listeners.size).toBe(0);

    const controller = new AbortController();
    const plain = createEnviron({ url: '/', signal: controller.signal });
    const stop = onClientGone(plain, { handleEvent: () => told.push('plain') });
    controller.abort(new Error('gone'));
    stop();
    expect([clientGone(plain), told]).toEqual([true, ['lazy', 'plain']]);
  });

  it('§12.1 runApp streams without making the signal, and stops a body when the watch says the client left', async () => {
    const { environ, leave, listeners, made } = lazyEnviron();
    let closed = 0;
    const app = () => {
      const body = (async function* () {
        for (let i = 0; ; i++) {
          if (i === 3) leave();
          yield 'chunk';
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
      return Object.assign(body, { close: () => void closed++ });
    };
    const written: string[] = [];
    let destroyed: unknown;
    const sink = { head() {}, write: (chunk: unknown) => void written.push(String(chunk)), end() {}, destroy: (error: unknown) => void (destroyed = error) };
    await runApp((_environ, startResponse) => (startResponse('200 OK', []), app()), environ, sink);
    expect([written.length >= 3, closed, (destroyed as Error).message, listeners.size]).toEqual([true, 1, 'The client disconnected', 0]);
    // Made only once the client had left, to read its reason.
    expect(made()).toBeGreaterThan(0);
  });

  it('runApp never makes the signal for a streamed response that completes', async () => {
    const { environ, made, listeners } = lazyEnviron();
    const sink = { head() {}, write() {}, end() {}, destroy() {} };
    await runApp(
      (_environ, startResponse) => {
        startResponse('200 OK', []);
        return (async function* () {
          yield 'a';
          await new Promise((resolve) => setTimeout(resolve, 1));
          yield 'b';
        })();
      },
      environ,
      sink,
    );
    expect([made(), listeners.size]).toEqual([0, 0]);
  });
});
