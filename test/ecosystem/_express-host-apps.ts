import { Readable } from 'node:stream';
import type { Application } from '@ngi/core';
import express from 'express';
import Fastify from 'fastify';
import type Koa from 'koa';
import { quietKoa } from '../../packages/koa/test/_helpers.ts';
import { gate } from '../fixtures/gate.ts';

/**
 * The same answers, byte for byte, from a plain NGI callable, a Fastify app, a Koa app and
 * native Express routes: what an Express host's middleware must treat alike.
 */

/** A JSON document over compression()'s threshold, and one under it. */
export const BIG = { items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}` })) };
export const SMALL = { small: true };
/** `/stream` sends `PARTS` times `PART`, each after a turn of the event loop. */
export const PART = 'a line of a body streamed in parts\n'.repeat(40);
export const PARTS = 6;
/** `/events` writes each event once the test has seen the one before (the gate `${id}:${i}`). */
export const EVENTS = ['data: one\n\n', 'data: two\n\n', 'data: three\n\n'];
export const TAG = '"v1"';
export const TAGGED = 'a body with an ETag of its own';
/** Two cookies the application sets itself, next to express-session's. */
export const COOKIES = ['theme=dark; Path=/', 'lang=en; Path=/'];
export const FAILURE = 'failed before the head';
/** `/download` sends `BLOCKS` blocks, each over what compression()'s zlib stream takes before it asks to wait for 'drain'. */
export const BLOCK = new Uint8Array(64 * 1024).fill(7);
export const BLOCKS = 40;

const PLAIN = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const EVENT_STREAM = 'text/event-stream';
const OCTETS = 'application/octet-stream';

export async function* parts(): AsyncGenerator<string> {
  for (let i = 0; i < PARTS; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    yield PART;
  }
}

export async function* blocks(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < BLOCKS; i++) yield BLOCK;
}

export async function* events(id: string): AsyncGenerator<string> {
  for (const [i, event] of EVENTS.entries()) {
    if (i > 0) await gate(`${id}:${i}`).promise;
    yield event;
  }
}

const json = (value: unknown): [string, [string, string][]] => {
  const text = JSON.stringify(value);
  return [text, [['content-type', JSON_TYPE], ['content-length', String(Buffer.byteLength(text))]]];
};

export const callable: Application = (environ, startResponse) => {
  switch (environ.PATH_INFO) {
    case '/json':
    case '/small': {
      const [text, headers] = json(environ.PATH_INFO === '/json' ? BIG : SMALL);
      startResponse('200 OK', headers);
      return [text];
    }
    case '/stream':
      startResponse('200 OK', [['content-type', PLAIN]]);
      return parts();
    case '/download':
      startResponse('200 OK', [['content-type', OCTETS]]);
      return blocks();
    case '/events':
      // §8.3: the head goes out at once, before the first event.
      return startResponse('200 OK', [['content-type', EVENT_STREAM]])('').then(() => events(new URLSearchParams(environ.QUERY_STRING).get('id')!));
    case '/cookie':
      startResponse('201 Created', [['content-type', PLAIN], ['content-length', '4'], ...COOKIES.map((cookie): [string, string] => ['set-cookie', cookie])]);
      return ['made'];
    case '/tagged':
      startResponse('200 OK', [['content-type', PLAIN], ['content-length', String(TAGGED.length)], ['etag', TAG]]);
      return [TAGGED];
    case '/fail':
      throw new Error(FAILURE);
    default:
      startResponse('404 Not Found', [['content-type', PLAIN], ['x-cascade', 'pass']]);
      return ['not mine'];
  }
};

export function fastifyApp(): ReturnType<typeof Fastify> {
  const app = Fastify();
  app.get('/json', async () => BIG);
  app.get('/small', async () => SMALL);
  app.get('/stream', (_req, reply) => reply.type(PLAIN).send(Readable.from(parts())));
  app.get('/download', (_req, reply) => reply.type(OCTETS).send(Readable.from(blocks())));
  app.get<{ Querystring: { id: string } }>('/events', (req, reply) => reply.type(EVENT_STREAM).send(Readable.from(events(req.query.id))));
  app.get('/cookie', (_req, reply) => reply.code(201).header('set-cookie', COOKIES).type(PLAIN).send('made'));
  app.get('/tagged', (_req, reply) => reply.header('etag', TAG).type(PLAIN).send(TAGGED));
  app.get('/fail', async () => {
    throw new Error(FAILURE);
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).header('x-cascade', 'pass').type(PLAIN).send('not mine'));
  return app;
}

/** Mounted with `fromKoa(app, { cascade: true })`: what no middleware answers is marked `x-cascade: pass`. */
export function koaApp(): Koa {
  return quietKoa().use((ctx) => {
    if (ctx.path === '/json') ctx.body = BIG;
    else if (ctx.path === '/small') ctx.body = SMALL;
    else if (ctx.path === '/stream') [ctx.type, ctx.body] = [PLAIN, Readable.from(parts())];
    else if (ctx.path === '/download') [ctx.type, ctx.body] = [OCTETS, Readable.from(blocks())];
    // Set whole: ctx.type would add a charset to an event stream.
    else if (ctx.path === '/events') ctx.set('content-type', EVENT_STREAM), (ctx.body = Readable.from(events(String(ctx.query.id))));
    else if (ctx.path === '/cookie') [ctx.status, ctx.type, ctx.body] = [201, PLAIN, 'made'], ctx.append('set-cookie', COOKIES);
    else if (ctx.path === '/tagged') ctx.set('etag', TAG), ([ctx.type, ctx.body] = [PLAIN, TAGGED]);
    else if (ctx.path === '/fail') throw new Error(FAILURE);
  });
}

/** Native Express routes answering the same; `/elsewhere` goes on to the host's next route. */
export const nativeRoutes: express.Router = express
  .Router()
  .get('/json', (_req, res) => void res.json(BIG))
  .get('/small', (_req, res) => void res.json(SMALL))
  .get('/stream', async (_req, res) => {
    res.type('text/plain');
    for await (const part of parts()) res.write(part);
    res.end();
  })
  // Piped: one 'drain' listener for the whole response (a once() per wait would pile up on compression's zlib stream).
  .get('/download', (_req, res) => void Readable.from(blocks()).pipe(res.type(OCTETS)))
  .get('/events', async (req, res) => {
    res.setHeader('content-type', EVENT_STREAM);
    res.flushHeaders();
    // compression's README: an event stream flushes each event through zlib.
    for await (const event of events(String(req.query.id))) res.write(event), res.flush();
    res.end();
  })
  .get('/cookie', (_req, res) => void res.status(201).cookie('theme', 'dark').cookie('lang', 'en').type('text/plain').send('made'))
  .get('/tagged', (_req, res) => void res.set('etag', TAG).type('text/plain').send(TAGGED))
  .get('/fail', (_req, _res, next) => next(new Error(FAILURE)));
