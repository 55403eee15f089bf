import { describe, expectTypeOf, it } from 'vitest';
import { compileFormat, type Exchange } from '../src/index.ts';

describe('the public types of ngi', () => {
  it('exports what a compiled log format takes', () => {
    expectTypeOf(compileFormat('common')).toEqualTypeOf<(exchange: Exchange) => string>();
  });
});
