import { describe, expect, it } from 'vitest';
import { compose, request, type Application, type Middleware } from '../src/index.ts';

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

  it('rejects an app that is not a function with a TypeError', () => {
    expect(() => compose(layer('a', []))(undefined as unknown as Application)).toThrow(
      new TypeError('compose: the app must be a function, got undefined'),
    );
  });

  it('rejects an argument that is not a function with a TypeError', () => {
    expect(() => compose(layer('a', []), undefined as unknown as Middleware)).toThrow(/argument 1/);
  });
});
