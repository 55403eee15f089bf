import { PassThrough, Transform } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { readBody, validator, type Application } from '@ngi/core';
import compress from '@fastify/compress';
import { connect } from 'node:http2';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { fastifyNgi, type FastifyNgiOptions } from '../src/index.ts';
import { upload as uploadOverHttp2 } from '../../../test/fixtures/http2-upload.ts';
import { deferred, listen, open, send, server, until } from './_helpers.ts';

/** Reads the whole body and answers with it and how environ described it. */
const upload: Application = async (environ, startResponse) => {
  const text = Buffer.from(await readBody(environ, { limit: Infinity })).toString('utf8');
  const body = JSON.stringify({ text, type: environ.CONTENT_TYPE ?? null, length: environ.CONTENT_LENGTH ?? null });
  startResponse('200 OK', [['content-type', 'application/json']]);
  return [body];
};

/** A Fastify app with the default parsers, `upload` mounted at /up, and `setup` run first. */
async function start(setup: (fastify: FastifyInstance) => void = () => {}, options: Partial<FastifyNgiOptions> = {}) {
  const fastify = server();
  const errors: string[] = [];
  fastify.setErrorHandler<Error & { statusCode?: number }>((error, _request, reply) => {
    errors.push(error.message);
    void reply.code(500).send({ handled: error.message });
  });
  setup(fastify);
  fastify.post('/native', async (request) => ({ parsed: request.body }));
  await fastify.register(fastifyNgi, { app: upload, prefix: '/up', ...options });
  return { url: await listen(fastify), errors };
}

describe('fastifyNgi: the request body', () => {
  it('reaches the application raw: Fastify\'s JSON parser neither consumes nor rejects it (§4.3)', async () => {
    const { url } = await start();
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect([res.status, res.json()]).toEqual([200, { text: '{not json', type: 'application/json', length: '9' }]);
    // The plugin's parser is its own: the app's other routes still parse JSON.
    const native = await send(url, '/native', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(native.json()).toEqual({ parsed: { a: 1 } });
  });

  it('accepts content types Fastify has no parser for, and bodies without one, instead of a 415 (§4.3)', async () => {
    const { url } = await start();
    const custom = await send(url, '/up', { method: 'PUT', headers: { 'content-type': 'application/x-custom' }, body: 'abc' });
    expect([custom.status, custom.json().text]).toEqual([200, 'abc']);
    const untyped = await send(url, '/up', { method: 'PATCH', body: 'no type' });
    expect([untyped.status, untyped.json()]).toEqual([200, { text: 'no type', type: null, length: '7' }]);
  });

  it('streams: the application reads the first chunk before the client has sent the rest (§4.3)', async () => {
    const fastify = server();
    const stepwise: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (async function* () {
        const input = environ['ngi.input'][Symbol.asyncIterator]();
        yield `first:${Buffer.from((await input.next()).value as Uint8Array).toString()};`;
        let rest = '';
        for (let step = await input.next(); !step.done; step = await input.next()) rest += Buffer.from(step.value).toString();
        yield `rest:${rest}`;
      })();
    };
    await fastify.register(fastifyNgi, { app: stepwise });
    const url = await listen(fastify);
    const answered = deferred();
    const res = await open(url, '/', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: (async function* () {
        yield 'one';
        await answered.promise; // the rest goes only once the application has answered the first chunk
        yield 'two';
      })(),
    });
    const reader = res[Symbol.asyncIterator]();
    expect(String((await reader.next()).value)).toBe('first:one;');
    answered.resolve();
    let rest = '';
    for (let step = await reader.next(); !step.done; step = await reader.next()) rest += String(step.value);
    expect(rest).toBe('rest:two');
  });

  it('reads the stream a preParsing hook put in place of the request, decompression say (§4.3)', async () => {
    const { url } = await start((fastify) => {
      fastify.addHook('preParsing', async (_request, _reply, payload) => {
        const upper = new Transform({ transform: (chunk: Buffer, _encoding, callback) => callback(null, chunk.toString().toUpperCase()) });
        return payload.pipe(upper);
      });
    });
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'shout' });
    expect(res.json().text).toBe('SHOUT');
  });

  it('describes a body @fastify/compress inflated as it reads: no Content-Encoding, no compressed Content-Length (§3.6, §4.3)', async () => {
    const fastify = server();
    await fastify.register(compress, { global: true });
    const seen: Application = async (environ, startResponse) => {
      const { CONTENT_LENGTH: length, HTTP_CONTENT_ENCODING: encoding, HTTP_TRANSFER_ENCODING: framing } = environ;
      const text = Buffer.from(await readBody(environ, { limit: Infinity })).toString();
      startResponse('200 OK', [['content-type', 'application/json']]);
      return [JSON.stringify({ text, length: length ?? null, encoding: encoding ?? null, framing: framing ?? null })];
    };
    // The validator checks that ngi.input ends after CONTENT_LENGTH bytes.
    await fastify.register(fastifyNgi, { app: validator(seen) });
    const url = await listen(fastify);
    const text = 'inflate me '.repeat(100);
    const res = await send(url, '/', { method: 'POST', headers: { 'content-type': 'text/plain', 'content-encoding': 'gzip' }, body: gzipSync(text) });
    expect([res.status, res.json()]).toEqual([200, { text, length: null, encoding: null, framing: 'chunked' }]);
  });

  it('throws from the stream a preParsing hook put in place when the client leaves mid-upload, never hangs (§4.3, §12.1)', async () => {
    const fastify = server();
    // A pipe does not pass the request's abort on to the stream it feeds.
    fastify.addHook('preParsing', async (_request, _reply, payload) => payload.pipe(new PassThrough()));
    let outcome = 'reading';
    const app: Application = async (environ, startResponse) => {
      try {
        for await (const _ of environ['ngi.input']) outcome = 'read a chunk';
        outcome = 'ended';
      } catch (error) {
        outcome = `threw ${(error as Error).message}`;
      }
      startResponse('204 No Content', []);
      return [];
    };
    await fastify.register(fastifyNgi, { app });
    const url = await listen(fastify);
    const gone = new AbortController();
    const res = open(url, '/', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': '1000' },
      signal: gone.signal,
      body: (async function* () {
        yield 'x'.repeat(100);
        await until(() => outcome === 'read a chunk');
        gone.abort();
      })(),
    });
    await res.catch(() => {});
    expect(await until(() => outcome.startsWith('threw') || outcome === 'ended')).toBe(true);
    expect(outcome).toBe('threw aborted');
  });

  it('hands over a body a middleware-style hook already parsed, serialized again, and corrects CONTENT_LENGTH (§3.6, §4.3)', async () => {
    const { url } = await start((fastify) => {
      // As body-parser does under @fastify/express: the raw stream is read and req.body set.
      fastify.addHook('onRequest', async (request) => {
        let text = '';
        for await (const chunk of request.raw) text += String(chunk);
        Object.assign(request.raw, { body: JSON.parse(text) as unknown });
      });
    });
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{ "a" : [1, 2] }' });
    expect(res.json()).toEqual({ text: '{"a":[1,2]}', type: 'application/json', length: '11' });
  });

  it('prefers the raw bytes a hook kept as request.rawBody (§4.3)', async () => {
    const { url } = await start((fastify) => {
      fastify.addHook('preValidation', async (request) => {
        const parts: Buffer[] = [];
        for await (const chunk of request.raw) parts.push(chunk as Buffer);
        Object.assign(request, { rawBody: Buffer.concat(parts) });
      });
    });
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'text/plain; charset=latin1' }, body: Buffer.from('café', 'latin1') });
    expect(res.json()).toEqual({ text: 'caf\ufffd', type: 'text/plain; charset=latin1', length: '4' });
  });

  it('fails clearly, never hangs, when a body read earlier left nothing to hand over (§4.3)', async () => {
    const { url, errors } = await start((fastify) => {
      fastify.addHook('onRequest', async (request) => {
        for await (const _ of request.raw) void _;
      });
    });
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'gone' });
    expect(res.status).toBe(500);
    expect(errors).toEqual([expect.stringMatching(/already read the request body and left no body; register the plugin before it/)]);
  });

  it('with parsedBody "error", refuses a parsed body instead of serializing it', async () => {
    const hook = (fastify: FastifyInstance) => {
      fastify.addHook('onRequest', async (request) => {
        for await (const _ of request.raw) void _;
        Object.assign(request.raw, { body: { a: 1 } });
      });
    };
    const { url, errors } = await start(hook, { parsedBody: 'error' });
    const res = await send(url, '/up', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect([res.status, errors]).toEqual([500, [expect.stringMatching(/the parsedBody option is "error"/)]]);
  });
});

describe('fastifyNgi over HTTP/2: the request body', () => {
  it.each([
    ['within drainLimit, so the upload completes', 300_000, true],
    ['past drainLimit, so that stream alone is closed', 3_000_000, false],
  ])('what a 413 leaves of an upload without Content-Length is drained once the response is out: %s (§12.3)', async (_label, size, uploaded) => {
    const fastify = server({ http2: true } as FastifyServerOptions) as unknown as FastifyInstance;
    await fastify.register(fastifyNgi, {
      drainLimit: 1_000_000,
      app: async (environ, startResponse) => {
        await readBody(environ, { limit: 50_000 });
        startResponse('200 OK', [['content-type', 'text/plain']]);
        return ['read'];
      },
    });
    const client = connect(await listen(fastify));
    try {
      const { status, finished, rstCode } = await uploadOverHttp2(client, size);
      expect({ status, finished, rstCode }).toEqual({ status: 413, finished: uploaded, rstCode: 0 });
      // The session serves the next request.
      const next = await new Promise<unknown>((resolve) => client.request({ ':path': '/' }).on('response', (head) => resolve(head[':status'])).end().resume());
      expect(next).toBe(200);
    } finally {
      client.close();
    }
  });
});
