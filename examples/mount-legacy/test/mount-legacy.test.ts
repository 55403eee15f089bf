import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { server } from '../app.ts';

describe('a legacy Koa app mounted in an Express server', () => {
  let http: Server;
  let url: string;
  beforeAll(async () => {
    http = server().listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => void http.close());

  it('serves the Koa app under /legacy, with Express middleware applied', async () => {
    const res = await fetch(`${url}/legacy/`);
    expect(res.headers.get('x-served-by')).toBe('express');
    expect(await res.json()).toEqual({ app: 'legacy koa', path: '/' });
  });

  it('keeps the Express routes', async () => {
    expect(await (await fetch(`${url}/`)).json()).toEqual({ app: 'new express' });
  });

  it("falls through to Express's handlers where Koa has nothing (koa#846)", async () => {
    const res = await fetch(`${url}/legacy/nothing-here`);
    expect([res.status, await res.json()]).toEqual([404, { error: 'not found (express)' }]);
  });
});
