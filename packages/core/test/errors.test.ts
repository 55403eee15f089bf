import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { HttpError, ResponseDiscarded, checkOptions, createEnviron, mount, notAnApplication, request, type Application } from '../src/index.ts';

describe('HttpError', () => {
  it('§11.1 is answered with its status and message', async () => {
    const app: Application = () => {
      throw new HttpError(418, 'short and stout');
    };
    const res = await request(app);
    expect([res.status, res.text(), res.errors]).toEqual([418, 'short and stout', []]);
  });

  it('carries its status as statusCode too, and expose, as http-errors does: a framework answering it keeps both (Fastify, Koa)', () => {
    const error = new HttpError(413, 'too large');
    expect([error.status, error.statusCode, error.expose]).toEqual([413, 413, true]);
    // On the prototype, not enumerable: the keys a serializer copies stay what they were.
    const keys: string[] = [];
    for (const key in error) keys.push(key);
    expect(keys).toEqual(['status', 'name']);
    // Both settable, as http-errors sets them when it wraps an error (body-parser's 400 around it).
    error.expose = false;
    error.statusCode = 400;
    expect([error.status, error.statusCode, error.expose]).toEqual([400, 400, false]);
  });

  it('gives its answer as a fetch Response, as a Hono HTTPException does, for Hono to answer it', async () => {
    const response = new HttpError(413, 'too large').getResponse();
    expect([response.status, response.headers.get('content-type'), await response.text()]).toEqual([413, 'text/plain; charset=utf-8', 'too large']);
  });

  it.each([200, 302, 42, 1000, 404.5, Number.NaN])('rejects the status %s, which is not an error status, with a TypeError', (status) => {
    // Thrown later, a 200 would present the error as a success, and a 42 makes Node's writeHead throw.
    expect(() => new HttpError(status, 'x')).toThrow(new TypeError(`HttpError: status must be an error status from 400 to 599, got ${status}`));
  });
});

describe('the error classes, made by another copy of the package', () => {
  // Two versions of @ngi/core installed side by side: an adapter built on one, an application on the other.
  const otherCopy = async () =>
    (await import(/* @vite-ignore */ `${new URL('../src/errors.ts', import.meta.url).href}?copy`)) as typeof import('../src/errors.ts');

  it('§11.1 are instances of this copy\'s classes, so an HttpError is answered with its status', async () => {
    const other = await otherCopy();
    expect(other.HttpError).not.toBe(HttpError);
    const error = new other.HttpError(403, 'not yours');
    expect([error instanceof HttpError, new other.ResponseDiscarded() instanceof ResponseDiscarded]).toEqual([true, true]);
    expect([new Error('x') instanceof HttpError, (null as unknown) instanceof HttpError, error instanceof ResponseDiscarded]).toEqual([false, false, false]);
    // The mark stays out of what a log shows of the error.
    expect(inspect(error)).not.toContain('ngi.HttpError');
    const res = await request(() => {
      throw error;
    });
    expect([res.status, res.text()]).toEqual([403, 'not yours']);
  });

  it('leave a subclass its own instanceof', () => {
    class Teapot extends HttpError {}
    expect([new Teapot(418, 'x') instanceof HttpError, new HttpError(418, 'x') instanceof Teapot]).toEqual([true, false]);
  });
});

describe('checkOptions', () => {
  const types = { gracefulTimeout: null, multiprocess: 'boolean', port: 'number' } as const;

  it('refuses an option it does not know, naming the one it most resembles', () => {
    // Ignored, a misspelt option would leave its default in place without a word.
    expect(() => checkOptions({ gracefullTimeout: 10 }, 'serve', types)).toThrow(
      new TypeError('serve: unknown option "gracefullTimeout" (did you mean "gracefulTimeout"?); the options are gracefulTimeout, multiprocess, port'),
    );
    expect(() => checkOptions({ MultiProcess: true }, 'serve', types)).toThrow('unknown option "MultiProcess" (did you mean "multiprocess"?)');
    expect(() => checkOptions({ timeout: 10 }, 'serve', types)).toThrow('serve: unknown option "timeout"; the options are gracefulTimeout, multiprocess, port');
    // As near to two: both are named.
    expect(() => checkOptions({ post: 80 }, 'serve', { host: null, port: null })).toThrow('serve: unknown option "post" (did you mean "host" or "port"?)');
    expect(() => checkOptions({ prot: 80 }, 'serve', { host: null, port: null })).toThrow('(did you mean "port"?)');
  });

  it('refuses a value of the wrong type, where the string "false" would count as true', () => {
    expect(() => checkOptions({ multiprocess: 'false' }, 'serve', types)).toThrow(new TypeError('serve: options.multiprocess must be a boolean, got "false"'));
    expect(() => checkOptions({ port: true }, 'serve', types)).toThrow('serve: options.port must be a number, got boolean');
  });

  it('takes undefined and null for an unset option, and leaves alone one its function checks itself', () => {
    expect(() => checkOptions({ multiprocess: undefined, port: null, gracefulTimeout: 'soon' }, 'serve', types)).not.toThrow();
    expect(() => checkOptions(undefined, 'serve', types)).not.toThrow();
  });

  it('is what the core functions check their options with', async () => {
    expect(() => mount({ '/a': () => [] }, { rewriteRedirect: true } as never)).toThrow('mount: unknown option "rewriteRedirect" (did you mean "rewriteRedirects"?)');
    expect(() => mount({ '/a': () => [] }, { rewriteRedirects: 'yes' } as never)).toThrow('mount: options.rewriteRedirects must be a boolean, got "yes"');
    expect(() => createEnviron({ path: '/x' } as never)).toThrow('createEnviron: unknown option "path"');
    // The test client collects ngi.errors itself.
    await expect(request(() => [], { errors: console } as never)).rejects.toThrow('request: unknown option "errors"');
    await expect(request(() => [], { validate: 'no' } as never)).rejects.toThrow('request: options.validate must be a boolean, got "no"');
  });
});

describe('notAnApplication', () => {
  it('names an adapter given as the request handler itself (app.use(toExpress), createServer(toNodeListener), koa.use(toKoa))', () => {
    const hint = 'the function was itself given as the request handler; give what it returns instead (createServer(toNodeListener(app)), app.use(toExpress(app)))';
    const req = new IncomingMessage(new Socket());
    expect([notAnApplication(req), notAnApplication({ req, res: {}, app: {} }), notAnApplication(new Request('http://h/'))]).toEqual([
      `got a Node request (IncomingMessage): ${hint}`,
      `got a Koa context: ${hint}`,
      `got a fetch Request: ${hint}`,
    ]);
  });
});
