import type { Application } from '@ngi/core';
import Koa, { type Middleware } from 'koa';
import { describe, expectTypeOf, it } from 'vitest';
import { fromKoa, toKoa, type FromKoaOptions, type ToKoaOptions } from '../src/index.ts';

describe('the public types of @ngi/koa', () => {
  it('toKoa turns an application into Koa middleware that any Koa app accepts', () => {
    expectTypeOf(toKoa).parameters.toEqualTypeOf<[Application, (ToKoaOptions | undefined)?]>();
    expectTypeOf(toKoa).returns.toEqualTypeOf<Middleware>();
    expectTypeOf(toKoa(() => [])).toExtend<Middleware<{ user: string }, { db: unknown }>>();
  });

  it('fromKoa takes a Koa application and returns an application', () => {
    expectTypeOf(fromKoa).returns.toEqualTypeOf<Application>();
    expectTypeOf(fromKoa).toBeCallableWith(new Koa(), { cascade: true });
    expectTypeOf<FromKoaOptions>().toEqualTypeOf<{ cascade?: boolean | undefined }>();
  });

  it('the options are documented shapes, all optional', () => {
    expectTypeOf<{}>().toExtend<ToKoaOptions>();
    expectTypeOf<ToKoaOptions['cascade']>().toEqualTypeOf<boolean | undefined>();
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    toKoa(() => [], { cascade: maybe(false), direct: maybe(false), drainLimit: maybe(0), multiprocess: maybe(true) });
    fromKoa(new Koa(), { cascade: maybe(true) });
  });
});
