import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** The README's quick start, and `npm start` in each example folder (PORT=0): each prints a URL that answers. */
describe('the README commands', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  it('the quick start is `npm run demo` and `npm test`, and the demo serves examples/hello', () => {
    const quickStart = /^```sh\n([\s\S]*?)^```/m.exec(readFileSync(join(root, 'README.md'), 'utf8'))![1]!;
    expect(quickStart.split('\n').filter(Boolean).map((line) => line.replace(/\s+#.*$/, ''))).toEqual(['npm run demo', 'npm test']);
    expect([pkg.scripts.demo, pkg.scripts.test]).toEqual([expect.stringContaining('examples/hello/serve.ts'), expect.any(String)]);
  });

  it.each(readdirSync(join(root, 'examples')))('examples/%s: npm start', async (name) => {
    const child = spawn('npm', ['start', '--silent'], {
      cwd: join(root, 'examples', name),
      env: { ...process.env, PORT: '0' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 20_000);
        const read = (chunk: Buffer) => {
          output += String(chunk);
          const found = /https?:\/\/[^\s)]+/.exec(output);
          if (found) (clearTimeout(timer), resolve(found[0]));
        };
        child.stdout.on('data', read);
        child.stderr.on('data', read);
        void exited.then(() => (clearTimeout(timer), reject(new Error(`exited: ${output}`))));
      });
      expect((await fetch(url)).status).toBe(200);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  });
});

/** The root README and the deployment guide: the functions they call and the `ngi serve` commands they show are real. */
describe('the README and docs/deploy.md', () => {
  const docs = ['README.md', 'docs/deploy.md'].map((file) => ({ file, text: readFileSync(join(root, file), 'utf8') }));
  const ngi = join(root, 'packages/cli/bin/ngi.js');

  it('call only functions the packages export', async () => {
    const modules = ['@ngi/core', '@ngi/node', '@ngi/express', '@ngi/fastify', '@ngi/koa', '@ngi/fetch', '@ngi/cli'];
    const exported = new Set((await Promise.all(modules.map((name) => import(name) as Promise<object>))).flatMap((m) => Object.keys(m)));
    const unknown = docs.flatMap(({ file, text }) => {
      const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
      const spans = [...text.replace(/^```[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
      const calls = [...blocks, ...spans].flatMap((code) => [...code.matchAll(/(?<![\w$.])([A-Za-z_][\w$]*)\(/g)].map((m) => m[1]!));
      // The application's own parameter, and the body's method.
      return calls.filter((name) => !exported.has(name) && !['startResponse', 'close'].includes(name)).map((name) => `${file}: ${name}`);
    });
    expect(unknown).toEqual([]);
  });

  it("name only flags and variables of ngi serve", async () => {
    const { stdout: help } = await run(process.execPath, [ngi, 'serve', '--help']);
    const named = docs.flatMap(({ file, text }) => {
      const code = [...text.matchAll(/^```\w*\n([\s\S]*?)^```/gm)].map((m) => m[1]!.replaceAll('\\\n', ' '));
      const commands = code.flatMap((block) => [...block.matchAll(/ngi serve([^#\n]*)/g)].map((m) => m[1]!));
      const spans = [...text.matchAll(/`(--[\w-]+)/g)].map((m) => m[1]!);
      const flags = [...commands.join(' ').matchAll(/(?<!\S)(--[\w-]+|-\w)\b/g)].map((m) => m[1]!);
      const variables = [...text.matchAll(/\bNGI_[A-Z_]+/g)].map((m) => m[0]);
      return [...flags, ...spans, ...variables].filter((name) => !new RegExp(`(?<![\\w-])${name}(?![\\w-])`).test(help)).map((name) => `${file}: ${name}`);
    });
    expect(named).toEqual([]);
  });

  it.each(
    [...readFileSync(join(root, 'docs/deploy.md'), 'utf8').matchAll(/^```\w*\n([\s\S]*?)^```/gm)]
      .flatMap((m) => [...m[1]!.replaceAll('\\\n', ' ').matchAll(/ngi serve([^#\n]*)/g)])
      .map((m) => m[1]!.trim()),
  )('docs/deploy.md: `ngi serve %s` checks out', async (args) => {
    const cwd = mkdtempSync(join(tmpdir(), 'ngi-deploy-'));
    try {
      mkdirSync(join(cwd, 'site'));
      writeFileSync(join(cwd, 'site/app.mjs'), "export const application = (_e, start) => (start('200 OK', []), []);\n");
      writeFileSync(join(cwd, 'site/settings.mjs'), "export const APPLICATION = './app.mjs';\n");
      const argv = [ngi, 'serve', ...args.split(/\s+/).filter(Boolean), '--check'];
      const { stdout } = await run(process.execPath, argv, { cwd, env: { ...process.env, NGI_SETTINGS_MODULE: 'site/settings.mjs' } });
      expect(stdout).toMatch(/configuration OK\n$/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
