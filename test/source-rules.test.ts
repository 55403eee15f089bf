import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const packages = join(import.meta.dirname, '..', 'packages');

/**
 * A function literal assigned straight to a property (`this.write = (chunk) => …`). V8 takes it
 * for a method and, until the code around it is optimized, allocates it in the old generation,
 * where a dead one keeps all it closes over alive through minor collections (see core's Exchange).
 */
const ASSIGNED_LITERAL = /(?:\.[\w$]+|\])\s*(?:\?\?|\|\||&&)?=\s*(?:async\s+)?(?:function\b|\([^()]*\)\s*(?::[^=;]+)?=>|[\w$]+\s*=>)/;

/** Functions made once per process or server, not per request. */
const ONCE = [
  'cli/src/_worker.ts: writer.flush = () => {',
  'cli/src/_primary.ts: const finished = new Promise<number>((resolve) => (this.finish = (code) =>',
  'node/src/serve.ts: server.closeIdleConnections = function (this: Server): void {',
];

function sources(): string[] {
  return readdirSync(packages, { withFileTypes: true, recursive: true })
    .filter((e) => e.name.endsWith('.ts') && /[/\\]src$/.test(e.parentPath) && !e.parentPath.includes('node_modules'))
    .map((e) => join(e.parentPath, e.name));
}

describe('package sources', () => {
  it('assign no function literal straight to a property, outside what runs once', () => {
    const found: string[] = [];
    for (const file of sources()) {
      const lines = readFileSync(file, 'utf8').split('\n');
      for (const line of lines) {
        const code = line.trim();
        if (!code.startsWith('//') && !code.startsWith('*') && ASSIGNED_LITERAL.test(code)) found.push(`${relative(packages, file)}: ${code}`);
      }
    }
    // The sites that run once are found too, so the pattern still matches what it is meant to.
    expect(ONCE.filter((once) => !found.some((site) => site.startsWith(once)))).toEqual([]);
    expect(found.filter((site) => !ONCE.some((once) => site.startsWith(once)))).toEqual([]);
  });
});
