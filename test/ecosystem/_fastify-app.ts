import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { constants } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import compress from '@fastify/compress';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import multipart, { type MultipartFile } from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';

/** The largest file `/upload` takes; `/upload` of more answers @fastify/multipart's 413. */
export const FILE_LIMIT = 512 * 1024;

/** A directory for @fastify/static: a text file, a subdirectory without an index. */
export function staticRoot(): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'ngi-fastify-static-'));
  writeFileSync(join(root, 'notes.txt'), Array.from({ length: 400 }, (_, i) => `line ${i} of the notes\n`).join(''));
  writeFileSync(join(root, 'été.txt'), 'a name in UTF-8\n');
  writeFileSync(join(root, 'large.bin'), randomBytes(3 * 1024 * 1024));
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'docs', 'a.txt'), 'a file in a directory\n');
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Emits 'open' with the PassThrough each request to `/events` streams: the test writes the events. */
export const eventStreams = new EventEmitter<{ open: [PassThrough] }>();

/** What the upload routes report of one file they streamed: its size and digest. */
async function digest(part: MultipartFile): Promise<Record<string, unknown>> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(part.file, async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) (size += chunk.length), hash.update(chunk);
  });
  return { field: part.fieldname, filename: part.filename, mimetype: part.mimetype, size, sha256: hash.digest('hex') };
}

/** The application: the official plugins a Fastify app is made of, and routes that use them. */
export function plugins(root: string): FastifyPluginAsync {
  return async (fastify) => {
    await fastify.register(helmet, { global: true });
    await fastify.register(cors, { origin: ['https://app.example'], credentials: true, methods: ['GET', 'PUT'], maxAge: 600 });
    await fastify.register(cookie, { secret: 'a cookie secret' });
    await fastify.register(formbody);
    await fastify.register(multipart, { limits: { fileSize: FILE_LIMIT } });
    // Brotli at a lower quality than its default 11, which is slow for a test.
    await fastify.register(compress, { global: true, threshold: 1024, brotliOptions: { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } } });
    await fastify.register(fastifyStatic, { root, prefix: '/public/' });
    // A second root: directories answer their index, and a directory without its slash redirects.
    await fastify.register(fastifyStatic, { root, prefix: '/site/', index: ['a.txt'], redirect: true, decorateReply: false });

    // Its own not-found handler, so a 404 runs the hooks of the plugins above. Mounted through
    // NGI, request.url is relative to the mount point; originalUrl is the full path both ways.
    fastify.setNotFoundHandler((request, reply) => void reply.code(404).send({ missing: request.originalUrl }));

    fastify.post('/upload/parts', async (request) => {
      const fields: Record<string, string> = {};
      const files = [];
      for await (const part of request.parts()) {
        if (part.type === 'file') files.push(await digest(part));
        else fields[part.fieldname] = String(part.value);
      }
      return { fields, files };
    });
    fastify.post('/upload/file', async (request, reply) => {
      const file = await request.file();
      if (file === undefined) return reply.code(400).send({ missing: 'file' });
      const seen = await digest(file);
      // request.file() hands the stream over before the limit is reached: the route checks it.
      if (file.file.truncated) return reply.code(413).send({ truncated: seen });
      // Fields sent before the file are known once it is reached.
      const fields = Object.fromEntries(Object.values(file.fields).flatMap((field) => (field && 'value' in field ? [[field.fieldname, field.value]] : [])));
      return { fields, file: seen };
    });

    fastify.get('/cookies/set', (_request, reply) =>
      reply
        .setCookie('session', 'ann', { signed: true, httpOnly: true, path: '/', sameSite: 'lax' })
        .setCookie('theme', 'dark', { path: '/', maxAge: 3600 })
        .send({ set: true }),
    );
    fastify.get('/cookies/read', async (request) => {
      const session = request.cookies.session;
      return { theme: request.cookies.theme, session: session === undefined ? null : request.unsignCookie(session) };
    });

    fastify.get('/api', async () => ({ api: true }));
    fastify.put('/api', async () => ({ updated: true }));

    fastify.get('/download', (_request, reply) => reply.download('notes.txt', 'résumé 2024.txt'));
    fastify.get('/send-file', (_request, reply) => reply.sendFile('docs/a.txt'));

    fastify.post('/form', async (request) => ({ body: request.body }));

    fastify.get('/json/large', async () => ({ items: Array.from({ length: 2000 }, (_, id) => ({ id, name: `item ${id}`, tags: ['a', 'b'] })) }));
    fastify.get('/events', (_request, reply) => {
      const stream = new PassThrough();
      eventStreams.emit('open', stream);
      return reply.type('text/event-stream').header('cache-control', 'no-cache').send(stream);
    });
    fastify.get('/stream', (_request, reply) => {
      const lines = Array.from({ length: 50 }, (_, i) => `streamed line ${i}\n`);
      return reply.type('text/plain; charset=utf-8').send(Readable.from(lines));
    });
  };
}

/** The application on its own Fastify instance, at `prefix` ('' for the root). */
export function fastifyApp(root: string, prefix = ''): FastifyInstance {
  const fastify = Fastify();
  void fastify.register(plugins(root), { prefix });
  return fastify;
}

/** A multipart/form-data body as a browser sends it, with its Content-Type. */
export async function multipartBody(fields: Record<string, string>, files: Record<string, Buffer>): Promise<{ body: Buffer; type: string }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  for (const [name, bytes] of Object.entries(files)) form.append(name, new Blob([bytes], { type: 'application/octet-stream' }), `${name}.bin`);
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  return { body: Buffer.from(await request.arrayBuffer()), type: request.headers.get('content-type')! };
}

/** `size` random bytes and their SHA-256. */
export function randomFile(size: number): { bytes: Buffer; sha256: string } {
  const bytes = randomBytes(size);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
