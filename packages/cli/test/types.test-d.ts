import { describe, expectTypeOf, it } from 'vitest';
import { accessLog, compileFormat, loadApplication, type Exchange } from '../src/index.ts';

describe('the public types of ngi', () => {
  it('exports what a compiled log format takes', () => {
    expectTypeOf(compileFormat('common')).toEqualTypeOf<(exchange: Exchange) => string>();
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    accessLog({ format: maybe('common'), write: maybe(() => {}) });
    void loadApplication('app.ts', { cwd: maybe('.'), factory: maybe(false) });
  });
});
