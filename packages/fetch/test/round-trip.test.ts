import { mount, request, stream, type Application } from '@ngi/core';
import { Hono } from 'hono';
import { mount as honoMount } from 'hono/mount';
import { describe, expect, it } from 'vitest';
import { failsLate } from '../../../test/fixtures/fails-late.ts';
import { fromFetch, toFetch } from '../src/index.ts';
import { deferred, text } from './_helpers.ts';

const echo: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'application/json']]);
  const seen = [environ.SCRIPT_NAME, environ.PATH_INFO, environ['ngi.raw_path'], environ.QUERY_STRING, environ.REMOTE_ADDR ?? null];
  return [JSON.stringify(seen)];
};

describe('fromFetch and toFetch together', () => {
  it('§3.2 §3.4 an application behind fromFetch → toFetch keeps its mount prefix, raw path and peer', async () => {
    const app = mount({ '/api': fromFetch(toFetch(echo)) });
    expect((await request(app, { url: '/%61pi/x%3Fy?q=1' })).json()).toEqual(['/api', '/x?y', '/%61pi/x%3Fy', 'q=1', '127.0.0.1']);
    expect((await request(app, { url: '/api' })).json()).toEqual(['/api', '', '/api', '', '127.0.0.1']);
  });

  it('§3.9 a peer option is not asked for a Request fromFetch made: the outer environ names the peer', async () => {
    let asked = 0;
    const app = fromFetch(toFetch(echo, { peer: () => (asked++, { address: '192.0.2.9' }) }));
    const res = await request(app, { url: '/x', remoteAddress: '198.51.100.4' });
    expect([(res.json() as unknown[])[4], asked]).toEqual(['198.51.100.4', 0]);
  });

  it('a framework that makes a new Request (Hono\'s mount) is traced to the environ it passes on as env: the prefix it cut joins SCRIPT_NAME, the peer is kept', async () => {
    const hono = new Hono();
    hono.all('/sub/*', honoMount(toFetch(echo)));
    const res = await request(fromFetch(hono), { url: '/sub/x%3Fy?q=1' });
    expect(res.json()).toEqual(['/sub', '/x?y', '/sub/x%3Fy', 'q=1', '127.0.0.1']);
  });

  it('§14.2 a path Hono routed as sent, not in normal form, is redirected to that form, not served past Hono\'s guards', async () => {
    const hono = new Hono();
    hono.use('/sub/admin/*', async (c) => c.text('guarded', 401));
    hono.all('/sub/*', honoMount(toFetch(echo)));
    const app = fromFetch(hono);
    const answers = [];
    for (const url of ['/sub/admin/secret', '/sub/admin%2Fsecret?q=1', '/sub//admin/secret', '/s%75b/admin%2fsecret']) {
      const res = await request(app, { url });
      const location = res.header('location');
      answers.push([res.status, location === undefined ? null : new URL(location, `http://h${url}`).href.slice('http://h'.length)]);
    }
    expect(answers).toEqual([
      [401, null],
      [308, '/sub/admin/secret?q=1'],
      [308, '/sub/admin/secret'],
      // The mount prefix stays as the client spelled it.
      [308, '/s%75b/admin/secret'],
    ]);
  });

  it('§9.3 §4.3 both ways stream: body chunks cross fromFetch → toFetch before either side ends', async () => {
    const gate = deferred();
    const mirror: Application = (environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'application/octet-stream']]);
      return environ['ngi.input'];
    };
    async function* upload() {
      yield 'ping;';
      await gate.promise;
      yield 'pong';
    }
    const res = await stream(fromFetch(toFetch(mirror)), { method: 'POST', body: upload() });
    const reader = res.body[Symbol.asyncIterator]();
    expect(text((await reader.next()).value)).toBe('ping;');
    gate.resolve();
    expect(text((await reader.next()).value)).toBe('pong');
    expect((await reader.next()).done).toBe(true);
  });
});

describe('fromFetch around toFetch: an error after the head', () => {
  it('§11.2 is reported once, by toFetch, which dropped the response, not again by fromFetch outside', async () => {
    const inner: string[] = [];
    const res = await stream(fromFetch(toFetch(failsLate, { errors: { write: (line) => void inner.push(line), flush() {} } })));
    await expect((async () => { for await (const _ of res.body) void _; })()).rejects.toThrow();
    expect([inner.filter((line) => line.includes('late failure')).length, res.errors.filter((line) => line.includes('late failure')).length]).toEqual([1, 0]);
  });

  it('§11.2 leaves the error itself unmarked: thrown again elsewhere, it is reported there', async () => {
    const shared = new Error('upstream unavailable');
    const failing: Application = async function* (_environ, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'a';
      throw shared;
    };
    const res = await stream(fromFetch(toFetch(failing, { errors: { write() {}, flush() {} } })));
    await expect((async () => { for await (const _ of res.body) void _; })()).rejects.toThrow();
    const again = await request(() => {
      throw shared;
    });
    expect([again.status, again.errors.join('').includes('upstream unavailable')]).toEqual([500, true]);
  });
});
