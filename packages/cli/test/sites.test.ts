import { join } from 'node:path';
import { mount, request } from '@ngi/core';
import { serve, type ServeHandle } from '@ngi/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSettings, loadApplication, withSettings } from '../src/index.ts';
import { closedWith } from './fixtures/site.ts';
import { fixtures, get, serving, stopAll } from './_helpers.ts';

describe('several sites in one process, each with its own settings', () => {
  let server: ServeHandle;

  beforeAll(async () => {
    // The same module twice, as mod_wsgi would need two daemon processes for.
    const alpha = await loadApplication(join(fixtures, 'site.ts'), { settings: { NAME: 'alpha', DELAY: 3 } });
    const beta = await loadApplication(join(fixtures, 'site.ts'), { settings: { NAME: 'beta', DELAY: 1 } });
    server = await serve(mount({ '/alpha': alpha, '/beta': beta }), { port: 0 });
  });
  afterAll(() => server.close());

  it('serves both concurrently, and neither sees the other\'s settings (in the call, after awaits, in the body, in close())', async () => {
    closedWith.length = 0;
    const sites = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 'alpha' : 'beta'));
    const bodies = await Promise.all(sites.map(async (site) => (await fetch(`${server.url}/${site}/`)).text()));
    bodies.forEach((body, i) => expect(body).toBe(`${sites[i]} `.repeat(4)));
    await expect.poll(() => closedWith.length).toBe(40);
    expect(closedWith.filter((name) => name === 'alpha')).toHaveLength(20);
    expect(closedWith.filter((name) => name === 'beta')).toHaveLength(20);
  });

  it('getSettings() outside any site throws a clear error (no process-wide fallback)', () => {
    expect(() => getSettings()).toThrow(/outside an application bound to settings/);
  });

  it('passes the validator through withSettings (§9.4 close once, §13.3 one chunk per chunk)', async () => {
    const app = withSettings({ NAME: 'checked' })((_environ, startResponse) => {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return (function* () {
        yield getSettings<{ NAME: string }>().NAME;
        yield '!';
      })();
    });
    const res = await request(app, { url: '/' });
    expect(res.text()).toBe('checked!');
  });

  it('a settings module: APPLICATION names the application relative to it, and its exports are the settings', async () => {
    const app = await loadApplication(undefined, { settings: join(fixtures, 'project', 'settings.ts') });
    const res = await request(app, { url: '/' });
    expect(res.text()).toBe('project says hi');
  });

  it('FACTORY with an APPLICATION function in the settings module: the function is called, inside the settings', async () => {
    const settings = join(fixtures, 'factory-settings.ts');
    const app = await loadApplication(undefined, { settings, factory: true });
    expect((await request(app, { url: '/' })).text()).toBe('made by the factory');
    const broken = await loadApplication(undefined, { settings: { APPLICATION: () => 42 }, factory: true }).catch((error: Error) => error.message);
    expect(broken).toBe('the factory APPLICATION() returned a number, not an application function');
  });

  it('--factory: the factory runs inside the settings', async () => {
    const app = await loadApplication(`${join(fixtures, 'project', 'app.ts')}:create`, { factory: true, settings: { GREETING: 'made' } });
    expect((await request(app, { url: '/' })).text()).toBe('made at creation');
  });
});

describe('getSettings() from CommonJS', () => {
  afterAll(stopAll);

  it('a CommonJS application that requires ngi under ngi serve reads its site\'s settings', async () => {
    const server = await serving(['app.cjs', '--settings', 'settings.cjs', '--bind', '127.0.0.1:0'], { cwd: join(fixtures, 'commonjs') });
    expect((await get(`${server.url}/`)).body).toBe('site from CommonJS\n');
  });
});
