import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { basicAuth } from 'hono/basic-auth';
import { bodyLimit } from 'hono/body-limit';
import { compress } from 'hono/compress';
import { getCookie, setCookie } from 'hono/cookie';
import { cors } from 'hono/cors';
import { etag } from 'hono/etag';
import { secureHeaders } from 'hono/secure-headers';
import { stream, streamSSE } from 'hono/streaming';
import { gate } from '../fixtures/gate.ts';
import { bigDocument, LogLines } from './_express-app.ts';

export const ORIGIN = 'https://client.example';
export const USER = { username: 'admin', password: 'open sesame' };
/** What `/limited` accepts at most, in bytes. */
export const LIMIT = 1024;
export const EVENTS = ['first', 'second', 'third'];
/** A text over compress's 1 KiB threshold, tagged by etag(). */
export const TEXT = 'a document worth caching\n'.repeat(100);

/** The first chunk of a response; the response is paused after it, so nothing that follows is lost. */
export function firstChunk(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => res.once('data', (chunk) => (res.pause(), resolve(String(chunk)))));
}

const sha256 = (bytes: ArrayBuffer | Uint8Array): string => createHash('sha256').update(new Uint8Array(bytes)).digest('hex');

/**
 * A Hono app made of Hono's own middleware: secure-headers, cors, compress, etag, basic-auth,
 * body-limit, cookies, bodies read with `parseBody()`, and streams, with its own notFound and
 * onError, which notes in `failures` the message of every error it renders. Under `base` (`basePath`) it is the native twin of the app mounted at `base`.
 */
export function honoApp(base = '', failures = new LogLines()): Hono {
  const app = base === '' ? new Hono() : new Hono().basePath(base);
  app.use(secureHeaders());
  app.use(cors({ origin: ORIGIN, credentials: true, exposeHeaders: ['x-total'], maxAge: 600 }));
  app.use(compress());
  app.use('/etag/*', etag());

  app.get('/api', (c) => c.json({ ok: true }, 200, { 'x-total': '3' }));
  app.post('/json', async (c) => c.json({ received: await c.req.json<unknown>() }));
  app.post('/form', async (c) => c.json(await c.req.parseBody({ all: true })));
  app.post('/upload', async (c) => {
    const { file, ...fields } = await c.req.parseBody();
    if (!(file instanceof File)) return c.json({ error: 'no file' }, 400);
    return c.json({ fields, file: { name: file.name, type: file.type, size: file.size, sha256: sha256(await file.arrayBuffer()) } });
  });
  app.get('/cookies/set', (c) => {
    setCookie(c, 'theme', 'dark', { path: '/', httpOnly: true });
    setCookie(c, 'lang', 'fr', { path: '/', sameSite: 'Lax' });
    return c.json({ set: true });
  });
  app.get('/cookies', (c) => c.json(getCookie(c)));
  app.get('/etag/doc', (c) => c.text(TEXT));
  app.get('/big.json', (c) => c.json(bigDocument));
  app.get('/private', basicAuth(USER), (c) => c.text('welcome'));
  app.post('/limited', bodyLimit({ maxSize: LIMIT, onError: (c) => c.json({ error: 'too large' }, 413) }), async (c) => {
    return c.json({ size: (await c.req.arrayBuffer()).byteLength, sha256: sha256(await c.req.arrayBuffer()) });
  });
  // Each event is written only once the test has seen the one before.
  app.get('/sse/:id', (c) =>
    streamSSE(c, async (sse) => {
      for (const [i, data] of EVENTS.entries()) {
        await sse.writeSSE({ event: 'tick', data, id: String(i) });
        await gate(`${c.req.param('id')}:${i}`).promise;
      }
    }),
  );
  // Writes one line, then waits for the client to go away.
  app.get('/abort/:id', (c) =>
    stream(c, async (body) => {
      const aborted = gate(`${c.req.param('id')}:aborted`);
      body.onAbort(() => aborted.open());
      c.req.raw.signal.addEventListener('abort', () => gate(`${c.req.param('id')}:signal`).open());
      await body.write('started\n');
      await aborted.promise;
    }),
  );
  // A long poll: no response until the client leaves.
  app.get('/hold/:id', async (c) => {
    const id = c.req.param('id');
    gate(`${id}:arrived`).open();
    await new Promise((resolve) => c.req.raw.signal.addEventListener('abort', resolve, { once: true }));
    gate(`${id}:aborted`).open();
    return c.text('too late');
  });
  app.get('/error', () => {
    throw new Error('the route failed');
  });
  app.notFound((c) => c.json({ error: 'no such route' }, 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    failures.stream.write(error.message);
    return c.json({ error: error.message }, 500);
  });
  return app;
}
