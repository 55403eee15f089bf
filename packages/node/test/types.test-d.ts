import { describe, expectTypeOf, it } from 'vitest';
import { drainAfterResponse, type BeforeDrain } from '../src/index.ts';

describe('the public types of @ngi/node', () => {
  it('exports the types its functions take', () => {
    expectTypeOf(drainAfterResponse).parameter(3).toEqualTypeOf<BeforeDrain | undefined>();
  });
});
