import { describe, expect, it } from 'vitest';
import { cascade, compose, mount, notAnApplication, request, validator, type Application, type Middleware } from '../src/index.ts';

/** Middleware that records its name on the way in and appends it to a response header on the way out. */
const layer =
  (name: string, trace: string[]): Middleware =>
  (app) =>
  (environ, startResponse) => {
    trace.push(name);
    return app({ ...environ, 'test.path': `${String(environ['test.path'] ?? '')}/${name}` }, (status, headers, ...error) =>
      startResponse(status, [...headers, ['x-layers', name]], ...error),
    );
  };

const app: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain']]);
  return [String(environ['test.path'])];
};

describe('compose (§13.1)', () => {
  it('§13.1 puts the first middleware outermost: compose(a, b)(app) is a(b(app))', async () => {
    const trace: string[] = [];
    const res = await request(compose(layer('a', trace), layer('b', trace), layer('c', trace))(app));
    expect(trace).toEqual(['a', 'b', 'c']);
    expect(res.text()).toBe('/a/b/c');
    // On the way out the innermost layer adds its header first.
    expect(res.headers.filter(([name]) => name === 'x-layers').map(([, v]) => v)).toEqual(['c', 'b', 'a']);
  });

  it('§13.1 answers exactly as the nested calls do', async () => {
    const composed = await request(compose(layer('a', []), layer('b', []))(app));
    const nested = await request(layer('a', [])(layer('b', [])(app)));
    expect([composed.text(), composed.headers]).toEqual([nested.text(), nested.headers]);
  });

  it('compose() is the identity and compose(m) is m', async () => {
    expect(compose()(app)).toBe(app);
    expect((await request(compose(layer('only', []))(app))).text()).toBe('/only');
  });

  it('can be reused for several apps', async () => {
    const both = compose(layer('a', []), layer('b', []));
    const other: Application = (_e, startResponse) => (startResponse('204 No Content', []), []);
    expect((await request(both(app))).text()).toBe('/a/b');
    expect((await request(both(other))).status).toBe(204);
  });

  it('rejects a middleware that returns no application, naming it, when applied', () => {
    const forgotReturn = ((_app: Application) => {}) as unknown as Middleware;
    const composed = compose(layer('a', []), forgotReturn);
    expect(() => composed(app)).toThrow(new TypeError('compose: middleware 1 returned undefined, not an application'));
  });

  it('names the adapter a framework\'s app needs, where it is given for an application', () => {
    const expressApp = Object.assign(() => {}, { handle() {}, set() {}, use() {} });
    expect(notAnApplication(expressApp)).toBe('got an Express app: wrap it, fromExpress(app) from @ngi/express');
    expect(notAnApplication({ callback() {} })).toBe('got a Koa app: wrap it, fromKoa(app) from @ngi/koa');
    expect(notAnApplication({ inject() {}, routing() {} })).toBe('got a Fastify instance: wrap it, fromFastify(app) from @ngi/fastify');
    expect(notAnApplication({ fetch() {} })).toBe('got an object with fetch(): wrap its handler, fromFetch(app.fetch) from @ngi/fetch');
    expect(notAnApplication((_environ: unknown, _startResponse: unknown) => [])).toBeUndefined();
    expect(notAnApplication(class Application {})).toBe('got a class: an application is a function, called without new');
    expect(notAnApplication(function classic() {})).toBeUndefined();
    // Named as Koa names the listener its callback() makes, an application is still one.
    expect(notAnApplication(function handleRequest(_environ: unknown, _startResponse: unknown) { return []; })).toBeUndefined();
    expect(() => mount({ '/api': expressApp as never })).toThrow('mount: the value of "/api" is not an application: got an Express app');
    // The key is fine: no hint about how to write one.
    expect(() => mount({ '/api': expressApp as never })).not.toThrow('use "/path"');
    expect(() => cascade([{ callback() {} } as never])).toThrow('cascade: apps[0] is not an application: got a Koa app');
    expect(() => compose()(expressApp as never)).toThrow('compose: the app must be an application, got an Express app');
    expect(() => compose([(app: Application) => app] as never)).toThrow('compose: argument 0 is not a middleware function, got Array (pass the middleware one by one: compose(...list))');
    expect(() => validator(expressApp as never)).toThrow('§1.1: an application is a function (environ, startResponse) => body, got an Express app');
  });

  it('rejects an app that is not a function with a TypeError', () => {
    expect(() => compose(layer('a', []))(undefined as unknown as Application)).toThrow(
      new TypeError('compose: the app must be an application, got undefined'),
    );
  });

  it('rejects an argument that is not a function with a TypeError', () => {
    expect(() => compose(layer('a', []), undefined as unknown as Middleware)).toThrow(/argument 1/);
  });
});
