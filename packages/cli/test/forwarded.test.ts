import { request, type Application } from '@ngi/core';
import { describe, expect, it } from 'vitest';
import { forwardedFrom } from '../src/_forwarded.ts';
import { list } from '../src/_parsers.ts';

/** Reports the peer and scheme it sees, and the X-Forwarded-For it got. */
const peer: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain']]);
  return [`${environ.REMOTE_ADDR} ${environ['ngi.url_scheme']} ${environ.HTTP_X_FORWARDED_FOR ?? '-'}`];
};

const forwarded = { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' };

describe('--forwarded-allow-ips', () => {
  it('applies X-Forwarded-For and -Proto from an allowed peer', async () => {
    const app = forwardedFrom(list('127.0.0.1', '--forwarded-allow-ips'), ['for', 'proto'])(peer);
    expect((await request(app, { remoteAddress: '127.0.0.1', headers: forwarded })).text()).toBe('203.0.113.7 https 203.0.113.7');
  });

  it("'' trusts no peer: the headers are left to the application (an Express app with its own trust proxy)", async () => {
    const app = forwardedFrom(list('', '--forwarded-allow-ips'), ['for', 'proto', 'host'])(peer);
    expect((await request(app, { remoteAddress: '127.0.0.1', headers: forwarded })).text()).toBe('127.0.0.1 http 203.0.113.7');
  });
});
