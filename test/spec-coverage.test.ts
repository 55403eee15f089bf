import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const spec = readFileSync(join(root, 'docs/spec.md'), 'utf8');

/** Rule numbers the spec defines: `**§6.1**` at the start of a rule. */
const rules = [...spec.matchAll(/\*\*§(\d+\.\d+)\*\*/g)].map((m) => m[1]!);

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => /\.ts$/.test(e.name) && /[/\\]test([/\\]|$)/.test(e.parentPath) && !e.parentPath.includes('node_modules'))
    .map((e) => join(e.parentPath, e.name));
}

const tests = [...testFiles(join(root, 'packages')), ...testFiles(join(root, 'test'))]
  .filter((file) => !file.endsWith('spec-coverage.test.ts'))
  .map((file) => readFileSync(file, 'utf8'))
  .join('\n');

describe('docs/spec.md', () => {
  it('defines numbered rules', () => {
    expect(rules.length).toBeGreaterThan(50);
    expect(new Set(rules).size).toBe(rules.length);
  });

  it.each(rules)('§%s is referenced by at least one test', (rule) => {
    expect(tests).toMatch(new RegExp(`§${rule.replace('.', '\\.')}(?!\\d)`));
  });
});
