import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { get, ngi, serving, stopAll, tempDir } from './_helpers.ts';

afterAll(stopAll);

const packages = join(import.meta.dirname, '..', '..');

/**
 * The install step, offline: what `npm install` leaves in node_modules (the three packages
 * and the `ngi` command in .bin), as links to this checkout's packages, since they are not
 * taken from a registry here.
 */
function install(project: string): string {
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '@ngi'), { recursive: true });
  mkdirSync(join(modules, '.bin'));
  symlinkSync(join(packages, 'cli'), join(modules, '@ngi', 'cli'));
  symlinkSync(join(packages, 'core'), join(modules, '@ngi', 'core'));
  symlinkSync(join(packages, 'node'), join(modules, '@ngi', 'node'));
  symlinkSync(join(packages, 'cli', 'node_modules', 'tsx'), join(modules, 'tsx'));
  symlinkSync(join('..', '@ngi', 'cli', 'bin', 'ngi.js'), join(modules, '.bin', 'ngi'));
  return join(modules, '.bin', 'ngi');
}

describe('ngi new demo && cd demo && <install> && ngi serve', () => {
  it('serves the new project, through the settings module it wrote', async () => {
    const dir = tempDir();
    const created = ngi(['new', 'demo'], { cwd: dir });
    expect(await created.exited).toEqual({ code: 0, signal: null });
    expect(created.stdout()).toContain('cd demo');
    const project = join(dir, 'demo');
    const command = install(project);
    // The project's own `ngi` (node_modules/.bin/ngi), run in the project, as `npx ngi serve` does.
    const server = await serving(['--bind', '127.0.0.1:0'], { cwd: project, command });
    expect(server.stderr()).toContain('serving APPLICATION of demo/settings.ts with 1 worker');
    const res = await get(`${server.url}/hello`);
    expect(res.status).toBe(200);
    expect(res.headers['x-powered-by']).toBe('ngi');
    expect(res.body).toBe('Hello from ngi! You asked for /hello\n');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    // `npm test`: the test it wrote passes, run as its package.json says.
    const { scripts } = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { scripts: { test: string } };
    const [node, ...args] = scripts.test.split(' ');
    expect(node).toBe('node');
    const tested = spawnSync(process.execPath, args, { cwd: project, encoding: 'utf8', timeout: 30_000 });
    expect([tested.status, tested.stdout]).toEqual([0, expect.stringContaining('# pass 1')]);
  });

  it('refuses to overwrite an existing directory', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'demo'));
    const run = ngi(['new', 'demo'], { cwd: dir });
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toBe(`ngi: ${join(dir, 'demo')} already exists; ngi new never overwrites a directory\n`);
  });
});
