import type { Application } from '@ngi/core';
import express, { type RequestHandler } from 'express';
import { describe, expectTypeOf, it } from 'vitest';
import { fromExpress, toExpress, type FromExpressOptions, type ParsedBodyMode, type ToExpressOptions } from '../src/index.ts';

describe('public types of @ngi/express', () => {
  it('toExpress takes an application and returns an Express handler', () => {
    expectTypeOf(toExpress).parameter(0).toEqualTypeOf<Application>();
    expectTypeOf(toExpress).returns.toEqualTypeOf<RequestHandler>();
    expectTypeOf(express().use('/legacy', toExpress((_e, startResponse) => (startResponse('200 OK', []), [])))).toEqualTypeOf<express.Express>();
  });

  it('fromExpress takes an Express app and returns an application', () => {
    expectTypeOf(fromExpress(express())).toEqualTypeOf<Application>();
    // @ts-expect-error a Router is not an app: wrap it as express().use(router)
    fromExpress(express.Router());
  });

  it('options are optional, with the documented values', () => {
    expectTypeOf<ParsedBodyMode>().toEqualTypeOf<'serialize' | 'error'>();
    expectTypeOf<ToExpressOptions['fallthrough']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<FromExpressOptions>().toEqualTypeOf<{ fallthrough?: boolean | undefined }>();
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    toExpress(() => [], { fallthrough: maybe(false), parsedBody: maybe('error'), drainLimit: maybe(0), multiprocess: maybe(true) });
    fromExpress(express(), { fallthrough: maybe(false) });
  });
});
