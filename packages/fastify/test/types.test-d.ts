import type { Application } from '@ngi/core';
import Fastify from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import { fastifyNgi, fromFastify } from '../src/index.ts';

describe('the public types of @ngi/fastify', () => {
  it('fromFastify takes an HTTP/1 or an HTTP/2 Fastify instance', () => {
    expectTypeOf(fromFastify(Fastify())).toEqualTypeOf<Application>();
    expectTypeOf(fromFastify(Fastify({ http2: true }))).toEqualTypeOf<Application>();
  });

  it('fastifyNgi registers with its options checked by the compiler', () => {
    const app: Application = () => [];
    const fastify = Fastify();
    void fastify.register(fastifyNgi, { prefix: '/legacy', app, fallthrough: false });
    // @ts-expect-error a misspelt option
    void fastify.register(fastifyNgi, { app, fallThrough: false });
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    void Fastify().register(fastifyNgi, { app: () => [], fallthrough: maybe(false), parsedBody: maybe('error'), direct: maybe(false) });
  });
});
