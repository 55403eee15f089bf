import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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

describe('a package packed from a checkout', () => {
  it.each(packages)('%s is built as it is packed, and its manifest points at what it ships', async (name) => {
    const dir = join(root, 'packages', name);
    const out = mkdtempSync(join(tmpdir(), 'ngi-pack-'));
    // As a fresh clone has it: no dist. An earlier build's tsbuildinfo stays, and tells a plain
    // `tsc -b` that nothing needs building, so packing must force the build.
    rmSync(join(dir, 'dist'), { recursive: true, force: true });
    try {
      await run('npx', ['-y', 'pnpm@12.4.2', 'pack', '--pack-destination', out], { cwd: dir, timeout: 90_000 });
      const tarball = join(out, readdirSync(out)[0]!);
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
    } finally {
      rmSync(out, { recursive: true, force: true });
      if (!existsSync(join(dir, 'dist', 'index.js'))) await run('npx', ['tsc', '-b', '--force', dir], { cwd: root });
    }
  }, 120_000);
});
