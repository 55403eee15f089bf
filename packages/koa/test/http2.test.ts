import { connect, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readBody, validator } from '@ngi/core';
import { expect, it } from 'vitest';
import { toKoa } from '../src/index.ts';
import { upload } from '../../../test/fixtures/http2-upload.ts';
import { REFUSED_HEADS, refusedHead } from '../../../test/fixtures/refused-head.ts';
import { errorsOf, quietKoa } from './_helpers.ts';

it('§3.8 §4.3 over HTTP/2 (h2c) toKoa reads the body and answers through Koa', async () => {
  const app = quietKoa().use(toKoa(validator(async (environ, startResponse) => {
    const body = Buffer.from(await readBody(environ)).toString();
    startResponse('201 Created', [['content-type', 'application/json'], ['x-multi', 'a'], ['x-multi', 'b']]);
    return [JSON.stringify({ protocol: environ.SERVER_PROTOCOL, pathInfo: environ.PATH_INFO, query: environ.QUERY_STRING, body })];
  })));
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const req = client.request({ ':method': 'POST', ':path': '/x%20y?q=1', 'content-type': 'text/plain' });
    req.end('over h2');
    const [headers, text] = await Promise.all([
      new Promise<Record<string, unknown>>((resolve) => req.once('response', resolve)),
      (async () => {
        let text = '';
        for await (const chunk of req) text += String(chunk);
        return text;
      })(),
    ]);
    expect([headers[':status'], headers['x-multi']]).toEqual([201, 'a, b']);
    expect(JSON.parse(text)).toEqual({ protocol: 'HTTP/2', pathInfo: '/x y', query: 'q=1', body: 'over h2' });
    expect(errorsOf(app)).toEqual([]);
  } finally {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

it('§4.6 §12.1 over HTTP/2 a stream the client resets before the head aborts ngi.signal', async () => {
  let aborted: (reason: unknown) => void;
  const abort = new Promise((resolve) => (aborted = resolve));
  let started: () => void;
  const start = new Promise<void>((resolve) => (started = resolve));
  const app = quietKoa().use(toKoa(async (environ, startResponse) => {
    const signal = environ['ngi.signal'];
    started();
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    aborted(signal.reason);
    startResponse('204 No Content', []);
    return [];
  }));
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const req = client.request({ ':path': '/' });
    req.on('error', () => {});
    req.end();
    await start;
    req.close(8 /* CANCEL */);
    expect(String(await abort)).toBe('Error: The client disconnected');
  } finally {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** One h2c request to `port`: what arrived, and how the stream closed. */
async function h2cExchange(port: number): Promise<{ status: unknown; headers: Record<string, unknown>; body: string; rstCode: number | undefined }> {
  const client = connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise((resolve) => {
      const req = client.request({ ':path': '/' });
      let status: unknown;
      let headers: Record<string, unknown> = {};
      let body = '';
      req.on('response', (head) => ((status = head[':status']), (headers = head)));
      req.on('data', (chunk) => (body += chunk));
      req.on('error', () => {});
      req.on('close', () => resolve({ status, headers, body, rstCode: req.rstCode }));
      req.end();
    });
  } finally {
    client.close();
  }
}

it.each(REFUSED_HEADS)('§11.1 over HTTP/2 a head Node refuses (%s) is Koa\'s 500 without the application\'s headers', async (_label, extra, how) => {
  const app = quietKoa().use(toKoa(refusedHead(extra, how), { errors: { write() {}, flush() {} } }));
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const answer = await h2cExchange((server.address() as AddressInfo).port);
    expect([answer.status, answer.body, answer.rstCode]).toEqual([500, 'Internal Server Error', 0]);
    expect([answer.headers['set-cookie'], answer.headers['content-type']]).toEqual([undefined, 'text/plain; charset=utf-8']);
    expect(errorsOf(app).map((error) => error.message).join()).toContain(extra[0]![0]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

it.each([
  ['within drainLimit, so the upload completes', 300_000, true],
  ['past drainLimit, so that stream alone is closed', 3_000_000, false],
])('§12.3 over HTTP/2 what a 413 leaves of an upload without Content-Length is drained once Koa\'s response is out: %s', async (_label, size, uploaded) => {
  const app = quietKoa().use(toKoa(async (environ, startResponse) => {
    await readBody(environ, { limit: 50_000 });
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return ['read'];
  }, { drainLimit: 1_000_000 }));
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    expect(await upload(client, size)).toEqual({ status: 413, body: 'Request body exceeds the limit of 50000 bytes', finished: uploaded, rstCode: 0 });
    // The session serves the next request.
    expect((await h2cExchange((server.address() as AddressInfo).port)).status).toBe(200);
  } finally {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  }
});
