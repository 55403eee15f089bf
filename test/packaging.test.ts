import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const packages = readdirSync(join(root, 'packages')).filter((name) => existsSync(join(root, 'packages', name, 'package.json')));

/** The manifest fields a packed package must have for an installed copy to load and type-check. */
interface Manifest {
  version: string;
  exports: unknown;
  main: string;
  types: string;
  engines: unknown;
  dependencies?: Record<string, string>;
}

/** Where each package's tarball is packed, by package directory name. */
const tarballs = new Map<string, string>();
let out = '';

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'ngi-pack-'));
  // One at a time: packing builds the projects a package references, which two at once would race on.
  for (const name of packages) {
    const dir = join(root, 'packages', name);
    const to = join(out, name);
    // As a fresh clone has it: no dist. An earlier build's tsbuildinfo stays, and tells a plain
    // `tsc -b` that nothing needs building, so packing must force the build.
    rmSync(join(dir, 'dist'), { recursive: true, force: true });
    try {
      await run('npx', ['-y', 'pnpm@12.4.2', 'pack', '--pack-destination', to], { cwd: dir, timeout: 90_000 });
      tarballs.set(name, join(to, readdirSync(to)[0]!));
    } finally {
      if (!existsSync(join(dir, 'dist', 'index.js'))) await run('npx', ['tsc', '-b', '--force', dir], { cwd: root });
    }
  }
}, 300_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('a package packed from a checkout', () => {
  it.each(packages)('%s is built as it is packed, and its manifest points at what it ships', async (name) => {
    const tarball = tarballs.get(name)!;
    const files = (await run('tar', ['tzf', tarball])).stdout.split('\n');
    expect(files).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/index.d.ts', 'package/LICENSE', 'package/README.md']));
    const manifest = JSON.parse((await run('tar', ['xzOf', tarball, 'package/package.json'])).stdout) as Manifest;
    expect(manifest.exports).toEqual({ '.': { types: './dist/index.d.ts', default: './dist/index.js' } });
    // For resolvers that do not read `exports` (TypeScript's `node10`).
    expect([manifest.main, manifest.types]).toEqual(['./dist/index.js', './dist/index.d.ts']);
    // require() of these ES modules needs Node 20.19.
    expect(manifest.engines).toEqual({ node: '>=20.19' });
    // A range, not a pinned version: an app using two NGI packages gets one @ngi/core, where with
    // two copies an HttpError thrown with one is not an instance of the other's.
    for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
      if (dependency.startsWith('@ngi/')) expect(range, dependency).toBe(`^${manifest.version}`);
    }
  });

  it('the Express and Koa adapters install with npm beside Express 4 and Koa 2, compile against their types and serve', async () => {
    const app = join(out, 'legacy-app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'legacy-app', private: true, type: 'module' }));
    copyFileSync(join(root, 'test', 'fixtures', 'legacy-app.ts'), join(app, 'app.ts'));
    const tsconfig = { compilerOptions: { target: 'ES2023', module: 'NodeNext', strict: true, types: ['node'], skipLibCheck: false, outDir: 'out' }, files: ['app.ts'] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const installed = ['core', 'node', 'express', 'koa'].map((name) => tarballs.get(name)!);
    // npm refuses an install whose peer ranges the versions do not meet (ERESOLVE).
    const legacy = ['express@4.22.3', 'koa@2.16.4', '@types/express@4.17.25', '@types/koa@2.15.2', '@types/node@20.19.43'];
    await run('npm', ['install', '--no-audit', '--no-fund', '--cache', join(out, 'npm-cache'), ...installed, ...legacy], { cwd: app, timeout: 120_000 });
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app });
    const { stdout } = await run(process.execPath, [join(app, 'out', 'app.js')], { cwd: app, timeout: 10_000 });
    expect(stdout.trim().split('\n')).toEqual([
      'express/route 200 {"baseUrl":"/express","path":"/route"}',
      'express/ngi/x 200 callable at /express/ngi /x',
      'koa/y 200 callable at /koa /y',
    ]);
  }, 180_000);
});
