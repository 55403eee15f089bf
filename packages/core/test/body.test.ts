import { describe, expect, it } from 'vitest';
import { createEnviron, readBody, type ReadBodyOptions } from '../src/index.ts';

describe('readBody options', () => {
  it.each([
    ['NaN', { limit: Number.NaN }],
    ['a negative number', { limit: -1 }],
    ['a string', { limit: '1000' }],
    ['null options', null],
  ])('rejects %s with a TypeError instead of reading without a limit', async (_what, options) => {
    // Number(process.env.LIMIT) of an unset variable is NaN, and NaN compares false with every size.
    const environ = createEnviron({ method: 'POST', body: [new Uint8Array(5000)] });
    const error: unknown = await readBody(environ, options as unknown as ReadBodyOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(String(error)).toMatch(/readBody: options(\.limit)? must be/);
  });

  it('accepts Infinity and 0', async () => {
    const environ = createEnviron({ method: 'POST', body: [new Uint8Array(3)] });
    expect((await readBody(environ, { limit: Infinity })).byteLength).toBe(3);
    const empty = createEnviron({ method: 'POST' });
    expect((await readBody(empty, { limit: 0 })).byteLength).toBe(0);
  });
});

describe('readBody', () => {
  it('names what it was given when that is no environ: ngi.input itself, a Node request, nothing', async () => {
    const environ = createEnviron({ method: 'POST', body: 'abc' });
    await expect(readBody(environ['ngi.input'] as never)).rejects.toThrow(new TypeError("readBody: expected the environ, not environ['ngi.input']: readBody(environ)"));
    await expect(readBody(undefined as never)).rejects.toThrow(new TypeError('readBody: expected the environ, got undefined'));
  });
});
