import { request as inProcess } from '@ngi/core';
import { serve, type ServeHandle } from '@ngi/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { application } from '../app.ts';

describe('the hello demo', () => {
  let server: ServeHandle;
  beforeAll(async () => {
    server = await serve(application, { port: 0 });
  });
  afterAll(() => server.close());

  it('greets over a real socket', async () => {
    const res = await fetch(`${server.url}/path?name=ngi`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('Hello, ngi! You asked for GET /path\n');
  });

  it('passes the validator in process', async () => {
    const res = await inProcess(application, { url: '/?name=%C3%A9' });
    expect([res.status, res.text()]).toEqual([200, 'Hello, é! You asked for GET /\n']);
  });

  it('§8.3 streams events: the head arrives before the first event', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/clock`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^data: \d{4}-/);
    controller.abort();
  });

  it('§3.3 answers 400 for a malformed path', async () => {
    const res = await fetch(`${server.url}/%zz`);
    expect(res.status).toBe(400);
  });
});
