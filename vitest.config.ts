import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The suites that run an Express or Koa app, run a second time on the previous major versions
 * (Express 4, Koa 2), which legacy applications are written for: `express` and `koa` resolve
 * to them there. `test/fixtures/versions.ts` tells a test which it got.
 */
const LEGACY = [
  'packages/express/test/**/*.test.ts',
  'packages/koa/test/**/*.test.ts',
  'test/conformance/{express,koa,cross}.test.ts',
  'test/direct/**/*.test.ts',
  'test/ecosystem/**/*.test.ts',
  'examples/{migrate,mount-legacy}/test/**/*.test.ts',
];

export default defineConfig({
  test: {
    reporters: ['default', ['json', { outputFile: '.reports/vitest.json' }]],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'ngi',
          include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
          typecheck: { enabled: true, include: ['packages/*/test/**/*.test-d.ts'], tsconfig: './test/tsconfig.json' },
        },
      },
      {
        extends: true,
        resolve: {
          alias: [
            // Resolved from test/, whose dependencies they are, for every suite (examples/ too).
            { find: /^express(?=\/|$)/, replacement: fileURLToPath(new URL('test/node_modules/express4', import.meta.url)) },
            { find: /^koa(?=\/|$)/, replacement: fileURLToPath(new URL('test/node_modules/koa2', import.meta.url)) },
          ],
        },
        test: { name: 'express 4, koa 2', include: LEGACY },
      },
    ],
  },
});
