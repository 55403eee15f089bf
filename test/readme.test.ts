import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/** Every ```ts block of a package README is a runnable example: run each, expect exit code 0. */
const root = join(import.meta.dirname, '..');
const scratch = join(import.meta.dirname, '.readme-examples');
const run = promisify(execFile);

const blocks = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name, 'README.md'))
  .filter((file) => existsSync(file))
  .flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m, i) => ({
      name: `${file.slice(root.length + 1)} example ${i + 1}`,
      code: m[1]!,
    })),
  );

describe('README examples run', () => {
  mkdirSync(scratch, { recursive: true });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(blocks)('$name', async ({ name, code }) => {
    const file = join(scratch, `${name.replace(/[^a-z0-9]+/gi, '-')}.ts`);
    writeFileSync(file, code);
    const { stderr } = await run(process.execPath, ['--import', 'tsx', file], { cwd: import.meta.dirname, timeout: 20_000 });
    expect(stderr).toBe('');
  });
});
