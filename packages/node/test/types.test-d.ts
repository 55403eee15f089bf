import { describe, expectTypeOf, it } from 'vitest';
import { drainAfterResponse, fromNodeListener, serve, toNodeListener, type BeforeDrain } from '../src/index.ts';

describe('the public types of @ngi/node', () => {
  it('exports the types its functions take', () => {
    expectTypeOf(drainAfterResponse).parameter(3).toEqualTypeOf<BeforeDrain | undefined>();
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    void serve(() => [], { port: maybe(0), host: maybe('::1'), gracefulTimeout: maybe(10), multiprocess: maybe(true) });
    toNodeListener(() => [], { drainLimit: maybe(0), errors: maybe(console as never) });
    fromNodeListener(() => {}, { prepare: maybe(() => {}), passOn: maybe(() => {}) });
  });
});
