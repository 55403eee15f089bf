import { connect, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readBody, validator } from '@ngi/core';
import { expect, it } from 'vitest';
import { toKoa } from '../src/index.ts';
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
    const req = client.request({ ':method': 'POST', ':path': '/x%2Fy?q=1', 'content-type': 'text/plain' });
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
    expect(JSON.parse(text)).toEqual({ protocol: 'HTTP/2', pathInfo: '/x/y', query: 'q=1', body: 'over h2' });
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
