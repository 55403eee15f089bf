import { describe, expectTypeOf, it } from 'vitest';
import type {
  Application,
  Chunk,
  Environ,
  ErrorStream,
  HeaderList,
  Middleware,
  ResponseBody,
  StartResponse,
  Write,
} from '../src/index.ts';
import { cascade, compose, mount, request } from '../src/index.ts';

describe('the contract types', () => {
  it('§1.1 an application takes environ and startResponse and returns a body or a promise of one', () => {
    expectTypeOf<Application>().parameters.toEqualTypeOf<[Environ, StartResponse]>();
    expectTypeOf<Application>().returns.toEqualTypeOf<ResponseBody | Promise<ResponseBody>>();
  });

  it('§6 §7 startResponse returns a write function that returns a promise', () => {
    expectTypeOf<StartResponse>().parameters.toEqualTypeOf<[string, HeaderList, unknown?]>();
    expectTypeOf<StartResponse>().returns.toEqualTypeOf<Write>();
    expectTypeOf<Write>().parameters.toEqualTypeOf<[Chunk]>();
    expectTypeOf<Write>().returns.toEqualTypeOf<Promise<void>>();
  });

  it('§9.1 arrays, generators and async generators are bodies; bare strings and bytes are not', () => {
    expectTypeOf<string[]>().toExtend<ResponseBody>();
    expectTypeOf<Generator<Uint8Array>>().toExtend<ResponseBody>();
    expectTypeOf<AsyncGenerator<string>>().toExtend<ResponseBody>();
    expectTypeOf<number[]>().not.toExtend<ResponseBody>();
    // A string is an Iterable<string>: returned bare, every character would be a chunk.
    expectTypeOf<string>().not.toExtend<ResponseBody>();
    expectTypeOf<Uint8Array>().not.toExtend<ResponseBody>();
    expectTypeOf<ReadonlySet<string> & { close(): Promise<void> }>().toExtend<ResponseBody>();
    expectTypeOf<{ close(): void }>().not.toExtend<ResponseBody>();
  });

  it('§2 §4 environ has typed CGI and ngi.* keys', () => {
    expectTypeOf<Environ['REQUEST_METHOD']>().toEqualTypeOf<string>();
    expectTypeOf<Environ['CONTENT_LENGTH']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Environ['HTTP_X_ANYTHING']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Environ['ngi.input']>().toEqualTypeOf<AsyncIterable<Uint8Array>>();
    expectTypeOf<Environ['ngi.signal']>().toEqualTypeOf<AbortSignal>();
    expectTypeOf<Environ['ngi.errors']>().toEqualTypeOf<ErrorStream>();
    expectTypeOf<Environ['ngi.url_scheme']>().toEqualTypeOf<'http' | 'https'>();
    expectTypeOf<Environ['ngi.version']>().toEqualTypeOf<readonly [1, 0]>();
  });

  it('§13.1 middleware maps an application to an application', () => {
    expectTypeOf<Middleware>().toEqualTypeOf<(app: Application) => Application>();
    expectTypeOf(compose).returns.toEqualTypeOf<Middleware>();
  });

  it('composition returns applications', () => {
    expectTypeOf(mount).returns.toEqualTypeOf<Application>();
    expectTypeOf(cascade).returns.toEqualTypeOf<Application>();
    // It copies the list: a constant one will do.
    const apps: readonly Application[] = [() => []];
    expectTypeOf(cascade(apps, { statuses: [404] as const })).toEqualTypeOf<Application>();
    expectTypeOf(request).returns.resolves.toHaveProperty('status').toEqualTypeOf<number>();
  });

  it('a generator function is an application', () => {
    const app = async function* (_environ: Environ, startResponse: StartResponse) {
      startResponse('200 OK', []);
      yield 'chunk';
    };
    expectTypeOf(app).toExtend<Application>();
  });

  // Under exactOptionalPropertyTypes, an option may still be given as a value that may be undefined.
  it('takes options that may be undefined', () => {
    const maybe = <T>(value: T): T | undefined => value;
    const app: Application = () => [];
    mount({ '/': app }, { fallback: maybe(app), rewriteRedirects: maybe(true), caseSensitive: maybe(false) });
    cascade([app], { statuses: maybe([404]), limit: maybe(0) });
    void request(app, { method: maybe('POST'), url: maybe('/'), body: maybe('x'), validate: maybe(true) });
  });
});
