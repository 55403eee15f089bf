import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { watchFiles } from '../src/_reload.ts';
import { get, serving, stopAll, tempDir } from './_helpers.ts';

afterAll(stopAll);

const app = (greeting: string): string => `
export const application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/hop') {
    startResponse('200 OK', [['content-type', 'text/plain'], ['connection', 'close']]);
    return ['a hop-by-hop header'];
  }
  startResponse('200 OK', [['content-type', 'text/plain']]);
  return ['${greeting}'];
};
`;

describe('ngi serve --reload', () => {
  it('restarts on a change, checks the app with the validator, and shows errors as a page', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'app.mjs'), app('first'));
    const server = await serving(['app.mjs', '--reload', '--bind', '127.0.0.1:0', '--access-log', 'off'], { cwd: dir });
    expect((await get(server.url)).body).toBe('first');

    const reloaded = async (edit: string): Promise<void> => {
      const count = server.stderr().split('started').length;
      writeFileSync(join(dir, 'app.mjs'), edit);
      await server.waitFor(new RegExp(`(?:[^]*?worker \\d+ started){${count}}`));
    };
    await reloaded(app('second'));
    expect(server.stderr()).toContain('ngi: app.mjs changed; reloading');
    expect((await get(server.url)).body).toBe('second');

    // The validator (§6.3: no hop-by-hop header) turns the mistake into a readable page.
    const hop = await get(`${server.url}/hop`);
    expect(hop.status).toBe(500);
    expect(hop.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(hop.body).toContain('§6.3');

    // A syntax error keeps the server up, showing where the error is, until the file is fixed.
    await reloaded('export const application = () => { return [1 2]; };\n');
    const broken = await get(server.url);
    expect(broken.status).toBe(500);
    expect(broken.body).toContain('syntax error at app.mjs:1:46');
    // Said once, in one line, as at a start: the loader's own stack frames are no help.
    expect(broken.body).not.toContain('<pre>');
    const said = server.stderr().slice(server.stderr().lastIndexOf('changed; reloading'));
    expect(said).toMatch(/^changed; reloading\nngi: syntax error at app\.mjs:1:46[^\n]*\n(?:ngi: worker \d+ started\n)?$/);
    await reloaded(app('fixed'));
    expect((await get(server.url)).body).toBe('fixed');
  });

  it('a change that hangs while loading is given up after --timeout, and the next change is served', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(join(dir, 'app.mjs'), app('v1'));
    const server = await serving(['app.mjs', '--reload', '--timeout', '1', '--bind', '127.0.0.1:0', '--access-log', 'off'], { cwd: dir });
    expect((await get(server.url)).body).toBe('v1');
    // v2 marks that a worker is loading it, then blocks its event loop for good.
    const loading = join(dir, 'loading-v2');
    writeFileSync(join(dir, 'app.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(loading)}, '');\nwhile (true);\n`);
    await expect.poll(() => existsSync(loading), { timeout: 10_000 }).toBe(true);
    writeFileSync(join(dir, 'app.mjs'), app('v3'));
    await server.waitFor(/was still loading the application after 1s \(--timeout\); killed it; keeping the running workers\n[^]*worker \d+ started/, 10_000);
    expect((await get(server.url)).body).toBe('v3');
  });
});

describe('a worker that fails while HUP replaces it', () => {
  it('is still replaced when the replacement HUP started cannot load', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const crashing = (greeting: string): string => `
export const application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/crash') setTimeout(() => { throw new Error('deliberate'); });
  startResponse('200 OK', [['content-type', 'text/plain']]);
  return ['${greeting}'];
};
`;
    writeFileSync(join(dir, 'app.mjs'), crashing('v1'));
    const server = await serving(['app.mjs', '--timeout', '2', '--bind', '127.0.0.1:0', '--access-log', 'off'], { cwd: dir });
    expect((await get(server.url)).body).toBe('v1');
    // HUP's new worker blocks while loading v2; meanwhile the running one has an uncaught exception.
    const loading = join(dir, 'loading-v2');
    writeFileSync(join(dir, 'app.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(loading)}, '');\nwhile (true);\n`);
    server.child.kill('SIGHUP');
    await expect.poll(() => existsSync(loading), { timeout: 10_000 }).toBe(true);
    await get(`${server.url}/crash`);
    writeFileSync(join(dir, 'app.mjs'), crashing('v3'));
    await server.waitFor(/keeping the running workers/, 10_000);
    // The failed worker is not kept: its successor serves what is on disk now.
    await expect.poll(async () => (await get(server.url)).body, { timeout: 10_000 }).toBe('v3');
  });
});

describe('watchFiles (what --reload watches)', () => {
  it('sees changes in a directory made after it started, but not in node_modules or dot-directories', async () => {
    const dir = tempDir();
    const changed: string[] = [];
    const stop = watchFiles([dir], (file) => changed.push(file), 20);
    try {
      mkdirSync(join(dir, 'routes'));
      mkdirSync(join(dir, 'node_modules'));
      mkdirSync(join(dir, '.cache'));
      await sleep(200);
      expect(changed).toEqual([]);
      writeFileSync(join(dir, 'node_modules', 'dep.js'), '');
      writeFileSync(join(dir, '.cache', 'x.js'), '');
      await sleep(200);
      expect(changed).toEqual([]);
      writeFileSync(join(dir, 'routes', 'home.ts'), 'export {};\n');
      await expect.poll(() => changed.length).toBe(1);
      expect(changed[0]).toMatch(/routes\/home\.ts$/);
      // A directory arriving with sources in it (a copy, a checkout) is a change too.
      mkdirSync(join(dir, 'lib', 'deep'), { recursive: true });
      writeFileSync(join(dir, 'lib', 'deep', 'util.ts'), 'export {};\n');
      await expect.poll(() => changed.length).toBe(2);
      writeFileSync(join(dir, 'lib', 'deep', 'util.ts'), 'export const x = 1;\n');
      await expect.poll(() => changed.length).toBe(3);
      // Removed and made again, as a branch switch does.
      rmSync(join(dir, 'lib'), { recursive: true });
      await sleep(200);
      mkdirSync(join(dir, 'lib'));
      await sleep(200);
      const count = changed.length;
      writeFileSync(join(dir, 'lib', 'again.ts'), 'export {};\n');
      await expect.poll(() => changed.length).toBe(count + 1);
    } finally {
      stop();
    }
  });
});
