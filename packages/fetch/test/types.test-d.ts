import type { Application } from '@ngi/core';
import { Hono } from 'hono';
import type { ApplicationHandler } from 'hono/mount';
import { describe, expectTypeOf, it } from 'vitest';
import { fromFetch, toFetch, type FetchHandler, type Peer, type ToFetchHandler } from '../src/index.ts';

describe('@ngi/fetch types', () => {
  it('fromFetch takes a Hono app, its fetch method or a plain handler, and makes an Application', () => {
    const hono = new Hono();
    expectTypeOf(fromFetch(hono)).toEqualTypeOf<Application>();
    expectTypeOf(fromFetch(hono.fetch)).toEqualTypeOf<Application>();
    expectTypeOf(fromFetch((request: Request) => new Response(request.url))).toEqualTypeOf<Application>();
    expectTypeOf(fromFetch(async () => new Response())).toEqualTypeOf<Application>();
  });

  it('toFetch makes a handler Hono can mount and a runtime can call', () => {
    expectTypeOf(toFetch(() => [])).toEqualTypeOf<ToFetchHandler>();
    expectTypeOf<ToFetchHandler>().toExtend<ApplicationHandler>();
    expectTypeOf<ToFetchHandler>().toExtend<FetchHandler>();
    expectTypeOf<ReturnType<ToFetchHandler>>().toEqualTypeOf<Promise<Response>>();
  });

  it('toFetch takes a peer finder that returns an address and an optional port, or nothing', () => {
    const ip = (request: Request): Peer | undefined => {
      const address = request.headers.get('cf-connecting-ip');
      return address === null ? undefined : { address };
    };
    expectTypeOf(toFetch(() => [], { peer: ip })).toEqualTypeOf<ToFetchHandler>();
    // @ts-expect-error: the port is a number
    toFetch(() => [], { peer: () => ({ address: '::1', port: '80' }) });
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    toFetch(() => [], { scriptName: maybe('/api'), peer: maybe(() => undefined) });
    fromFetch(() => new Response(), { env: maybe(() => ({})) });
  });
});
