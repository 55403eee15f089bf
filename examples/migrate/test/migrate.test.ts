import { request } from '@ngi/core';
import { serve, type ServeHandle } from '@ngi/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { application } from '../app.ts';

describe('migrating from Express to Koa route by route', () => {
  let server: ServeHandle;
  beforeAll(async () => {
    server = await serve(application, { port: 0 });
  });
  afterAll(() => server.close());

  it('a route the new app has comes from the new app', async () => {
    expect(await (await fetch(`${server.url}/users`)).json()).toMatchObject({ from: 'new' });
  });

  it('a route it does not have falls through to the legacy app', async () => {
    expect(await (await fetch(`${server.url}/reports`)).json()).toEqual({ from: 'legacy', reports: [] });
  });

  it('a POST the new app declines reaches the legacy app with its body intact', async () => {
    const res = await fetch(`${server.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: 'book', qty: 2 }),
    });
    expect([res.status, await res.json()]).toEqual([201, { from: 'legacy', order: { item: 'book', qty: 2 } }]);
  });

  it('passes the validator in process', async () => {
    const res = await request(application, { url: '/users' });
    expect(res.status).toBe(200);
  });
});
