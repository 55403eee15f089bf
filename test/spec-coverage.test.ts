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

/** A string literal at `index` (after blanks): `'…'`, `"…"` or `` `…` ``. */
const literal = /\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/y;

function literalAt(code: string, index: number): { text: string; end: number } | undefined {
  literal.lastIndex = index;
  const match = literal.exec(code);
  return match ? { text: match[2]!, end: literal.lastIndex } : undefined;
}

/** The index just past the bracketed group that opens at `open`, string literals skipped. */
function pastGroup(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    const c = code[i]!;
    if (c === '"' || c === "'" || c === '`') i = (literalAt(code, i)?.end ?? i + 1) - 1;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c) && --depth === 0) return i + 1;
  }
  return code.length;
}

/** The source of an `.each` table: the argument itself, or the array a `const` of that name holds. */
function table(code: string, argument: string): string {
  if (!/^[\w$]+$/.test(argument)) return argument;
  const declaration = new RegExp(`\\b(?:const|let)\\s+${argument.replace('$', '\\$')}\\b[^=]*=\\s*`).exec(code);
  if (!declaration) return '';
  const start = declaration.index + declaration[0].length;
  return code.slice(start, pastGroup(code, start));
}

/**
 * The titles of the tests a file defines: those of `it`, `test` and `describe` calls, with
 * their `.each(table)(title, …)` and `.skipIf(condition)(title, …)` forms but none of `.skip`
 * or `.todo`, and the conformance suite's cases, `['title', async (url) => …]`. A title with
 * placeholders (`%s`, `$name`) takes its values from the table, so the table's strings count.
 * Comments, helpers and test bodies don't count.
 */
function titles(source: string): string[] {
  const code = source.replace(/^\s*\/\/.*$/gm, '').replace(/^\s*\/\*[\s\S]*?\*\//gm, '');
  const found: string[] = [];
  for (const call of code.matchAll(/(?<![\w$.])(?:it|test|describe)((?:\.\w+)*)\s*\(/g)) {
    const modifiers = call[1]!.split('.');
    if (modifiers.includes('skip') || modifiers.includes('todo')) continue;
    let at = call.index + call[0].length;
    let rows = '';
    if (/^(each|for|skipIf|runIf)$/.test(modifiers.at(-1)!)) {
      const end = pastGroup(code, at - 1);
      if (modifiers.at(-1) === 'each' || modifiers.at(-1) === 'for') rows = table(code, code.slice(at, end - 1).trim());
      const next = /\s*\(/y;
      next.lastIndex = end;
      if (!next.test(code)) continue;
      at = next.lastIndex;
    }
    const title = literalAt(code, at);
    if (!title) continue;
    found.push(title.text);
    if (/%[sdifjo#]|\$\w/.test(title.text)) for (const value of rows.matchAll(/(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)) found.push(value[2]!);
  }
  for (const entry of code.matchAll(/\[\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1\s*,\s*async\b/g)) found.push(entry[2]!);
  return found;
}

const named = [...testFiles(join(root, 'packages')), ...testFiles(join(root, 'test'))]
  .filter((file) => !file.endsWith('spec-coverage.test.ts'))
  .flatMap((file) => titles(readFileSync(file, 'utf8')));

describe('docs/spec.md', () => {
  it('defines numbered rules', () => {
    expect(rules.length).toBeGreaterThan(50);
    expect(new Set(rules).size).toBe(rules.length);
  });

  it('finds test titles, and only those', () => {
    // Sample source, not tests of this file: the skipped and the to-do test in it must not count.
    const source = [
      "// it('§1.1 a comment')",
      "it('§1.2 a test', () => {});",
      "it.skip('§1.3 a skipped test', () => {});", // a sample line the extractor must ignore, not a skipped test
      "test.todo('§1.4 a test to write');",
      "const rows = [['§1.5', f(1)]];",
      "it.each(rows)('%s: a table', () => {});",
      "it.each([1, 2])('§1.6 case %s', () => {});",
      "const note = '§1.7 a string in a test body';",
      "  ['§1.8 a conformance case', async (url) => {}],",
      '  [`§1.9 a conformance case in backquotes`, async () => {}],',
    ].join('\n');
    expect(titles(source)).toEqual(['§1.2 a test', '%s: a table', '§1.5', '§1.6 case %s', '§1.8 a conformance case', '§1.9 a conformance case in backquotes']);
  });

  it.each(rules)('§%s is named in the title of at least one test', (rule) => {
    const pattern = new RegExp(`§${rule.replace('.', '\\.')}(?!\\d)`);
    expect(named.some((title) => pattern.test(title)), `no test title names §${rule}`).toBe(true);
  });
});
