import { request, validator, type Application } from '@ngi/core';
import { describe, expect, it } from 'vitest';
import { application } from '../app.ts';
import { withTiming } from '../timing.ts';

describe('the middleware example', () => {
  it('adds server-timing and passes the body through', async () => {
    const res = await request(application, { url: '/x' });
    expect(res.text()).toBe('hello from /x\n');
    expect(res.header('server-timing')).toMatch(/^app;dur=\d+\.\d$/);
  });

  it('§13.3 §13.4 keeps the middleware obligations under a validator on both sides', async () => {
    let closed = 0;
    const inner: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return Object.assign(['a', 'b', 'c'], { close: () => void closed++ });
    };
    const res = await request(validator(withTiming(validator(inner))));
    expect([res.status, res.text(), closed]).toEqual([200, 'abc', 1]);
  });
});
