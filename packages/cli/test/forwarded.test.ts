import { request, type Application, type Environ } from '@ngi/core';
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
    const app = forwardedFrom(list('127.0.0.1', '--forwarded-allow-ips'), ['for', 'proto'], false)(peer);
    expect((await request(app, { remoteAddress: '127.0.0.1', headers: forwarded })).text()).toBe('203.0.113.7 https 203.0.113.7');
  });

  it("'' trusts no peer: the headers are left to the application (an Express app with its own trust proxy)", async () => {
    const app = forwardedFrom(list('', '--forwarded-allow-ips'), ['for', 'proto', 'host'], false)(peer);
    expect((await request(app, { remoteAddress: '127.0.0.1', headers: forwarded })).text()).toBe('127.0.0.1 http 203.0.113.7');
  });

  it('`unix` trusts a request without a peer address only over a Unix socket, not over TCP', async () => {
    // Over TCP, a client that resets its connection at once can leave Node without its address.
    const unix = list('127.0.0.1,unix', '--forwarded-allow-ips');
    const overTcp = forwardedFrom(unix, ['for', 'proto'], false)(peer);
    const overUnix = forwardedFrom(unix, ['for', 'proto'], true)(peer);
    const noAddress = (environ: Environ): Environ => {
      delete environ.REMOTE_ADDR;
      return environ;
    };
    const [tcp, socket] = await Promise.all([overTcp, overUnix].map((app) => request((environ, start) => app(noAddress(environ), start), { headers: forwarded })));
    expect([tcp!.text(), socket!.text()]).toEqual(['undefined http 203.0.113.7', '203.0.113.7 https 203.0.113.7']);
  });
});
