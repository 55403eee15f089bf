import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type MainOptions } from '../src/index.ts';
import { fixtures, get, ngi, stopAll, tempDir } from './_helpers.ts';

afterAll(stopAll);

/** Runs `main` in this process with captured output. */
async function run(argv: string[], options: MainOptions = {}) {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) =>
    new Writable({ write: (chunk: Buffer, _encoding, done) => (append(String(chunk)), done()) });
  const code = await main(argv, {
    cwd: fixtures,
    env: {},
    stdout: sink((text) => (stdout += text)),
    stderr: sink((text) => (stderr += text)),
    ...options,
  });
  return { code, stdout, stderr };
}

describe('main(argv)', () => {
  it('--version and --help', async () => {
    expect((await run(['--version'])).stdout).toMatch(/^ngi \d+\.\d+\.\d+\n$/);
    expect((await run(['--help'])).stdout).toContain('serve [MODULE[:EXPORT]]');
    const serveHelp = await run(['serve', '--help']);
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toContain('--max-requests-jitter J');
    expect(serveHelp.stdout).toContain('(env NGI_FORWARDED_ALLOW_IPS, setting FORWARDED_ALLOW_IPS)');
  });

  it.each([
    [['deploy'], 'ngi: unknown command "deploy" (the commands are serve and new; see ngi --help)\n'],
    [['serve', 'app.ts', '--wrokers', '2'], 'ngi: unknown option --wrokers\n'],
    [['serve', 'app.ts', '--workers'], 'ngi: option --workers needs a value\n'],
    [['serve', 'app.ts', '--workers', 'two'], 'ngi: --workers must be a whole number ≥ 1, got "two"\n'],
    [['serve', 'app.ts', '--bind', 'localhost:99999'], 'ngi: --bind must be HOST:PORT or unix:PATH (like 127.0.0.1:8000, [::1]:8000 or unix:/run/app.sock), got "localhost:99999"\n'],
    [['serve', 'app.ts', '--check', '--timeout', '-1'], 'ngi: option --timeout needs a value (write a value starting with "-" as --timeout=VALUE)\n'],
    [['serve', 'app.ts', '--check', '-w', '-2'], 'ngi: option --workers needs a value (write a value starting with "-" as --workers=VALUE)\n'],
    [['serve', 'app.ts', '--check', '--timeout=-1'], 'ngi: --timeout must be a number of seconds from 0 to 2147483, got "-1"\n'],
    // A worker beats every 50 ms at most: a shorter limit would kill live workers over and over.
    [['serve', 'app.ts', '--check', '--timeout', '0.01'], 'ngi: --timeout must be 0 (never) or at least 0.2 seconds (a worker\'s heartbeat is too slow for less), got "0.01"\n'],
    // Node's timers hold at most 2^31-1 ms and fire at once past it: a longer drain would be none.
    [['serve', 'app.ts', '--check', '--graceful-timeout', '9999999'], 'ngi: --graceful-timeout must be a number of seconds from 0 to 2147483, got "9999999"\n'],
    // Node takes a max header size of 0 for its default, 16 KiB: no limit is not on offer.
    [['serve', 'app.ts', '--max-header-size', '0'], 'ngi: --max-header-size must be a size in bytes of 1 or more (a head always has a limit), got "0"\n'],
    [['serve', 'app.ts', '--max-body-size', '10 parsecs'], 'ngi: --max-body-size must be a size in bytes (like 16384, 64k or 10mb), got "10 parsecs"\n'],
    [['serve', 'app.ts', '--access-log-format', '%(zz)s'], 'ngi: access log format: unknown token %(zz)s\n'],
    [['serve', 'app.ts', '--access-log-format', '%(__proto__)s'], 'ngi: access log format: unknown token %(__proto__)s\n'],
    [['serve', 'app.ts', '--access-log-format', 'toString'], 'ngi: access log format: "toString" is not one of combined, common and has no token like %(h)s\n'],
    [['serve', 'app.ts', '--forwarded-allow-ips', '10.0.0.0/99'], 'ngi: --forwarded-allow-ips: "10.0.0.0/99" is not an IP address, a CIDR (like 10.0.0.0/8), "unix" or "*"\n'],
    [['serve', 'app.ts', '--reload', '--workers', '2'], 'ngi: --reload runs one worker process; drop --workers, NGI_WORKERS or WEB_CONCURRENCY\n'],
    [['serve', 'a.ts', 'b.ts'], 'ngi: unexpected argument "b.ts"\n'],
  ])('a bad command line %j is one line on stderr and exit code 2', async (argv, message) => {
    const result = await run(argv);
    expect(result).toEqual({ code: 2, stdout: '', stderr: message });
  });

  it.each([
    [{ NGI_BIND: '127.0.0.1:x' }, 'ngi: NGI_BIND must be HOST:PORT or unix:PATH (like 127.0.0.1:8000, [::1]:8000 or unix:/run/app.sock), got "127.0.0.1:x"\n'],
    [{ PORT: 'http' }, 'ngi: PORT must be a port number (0 to 65535), got "http"\n'],
  ])('a bad address from the environment %j names its variable', async (env, message) => {
    expect(await run(['serve', 'app.ts', '--check'], { env })).toEqual({ code: 2, stdout: '', stderr: message });
  });

  it('an empty NGI_FORWARDED_ALLOW_IPS trusts no peer, as --forwarded-allow-ips \'\' does; an empty NGI_WORKERS is unset', async () => {
    const check = async (env: Record<string, string>) => (await run(['serve', 'app.ts', '--check'], { env })).stdout;
    expect(await check({})).toContain('forwarded-allow-ips: 127.0.0.1,::1,unix\n');
    expect(await check({ NGI_FORWARDED_ALLOW_IPS: '' })).toContain('forwarded-allow-ips: \n');
    expect(await check({ NGI_WORKERS: '' })).toContain('workers: 1\n');
  });

  it('a bad address in the settings module names the setting and the file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'settings.mjs'), "export const APPLICATION = 'app.mjs';\nexport const BIND = ['127.0.0.1:8000', 'localhost:80000'];\n");
    const result = await run(['serve', '--check'], { cwd: dir });
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'ngi: BIND in settings.mjs must be HOST:PORT or unix:PATH (like 127.0.0.1:8000, [::1]:8000 or unix:/run/app.sock), got "localhost:80000"\n' });
    writeFileSync(join(dir, 'promised.mjs'), "export const APPLICATION = 'app.mjs';\nexport const WORKERS = Promise.resolve(2);\n");
    expect((await run(['serve', '--check', '--settings', 'promised.mjs'], { cwd: dir })).stderr).toBe('ngi: WORKERS in promised.mjs must be a whole number ≥ 1, got a Promise (await it at the top level of the settings module)\n');
  });

  it('an APPLICATION setting that is neither a string nor a function is one line, not a stack trace', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'settings.mjs'), 'export const APPLICATION = 42;\n');
    const result = await run(['serve', '--check'], { cwd: dir });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'ngi: APPLICATION must be a "module:export" string or an application function, got a number\n' });
  });

  it('an access log that cannot be written is one line and exit code 1, before any worker starts', async () => {
    const log = join(tempDir(), 'no-such-dir', 'access.log');
    const message = `ngi: cannot open the access log ${log}: no such directory\n`;
    expect(await run(['serve', 'app.ts', '--check', '--access-log', log])).toEqual({ code: 1, stdout: '', stderr: message });
    expect(await run(['serve', 'app.ts', '--bind', '127.0.0.1:0', '--access-log', log], { handleSignals: false })).toEqual({ code: 1, stdout: '', stderr: message });
  });

  it('serve with a signal aborted before it started stops instead of serving forever', async () => {
    const result = await run(['serve', 'app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off'], { signal: AbortSignal.abort(), handleSignals: false });
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('listening on');
  }, 10_000);

  it('serve without MODULE and without a settings module says what is missing', async () => {
    const result = await run(['serve'], { cwd: tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('ngi: no application to serve: give MODULE[:EXPORT], or set APPLICATION in the settings module (no settings module found (./settings))\n');
  });

  it('--check loads the application and prints the configuration', async () => {
    const result = await run(['serve', 'factory.ts:createApp', '--factory', '--check']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('application: factory.ts:createApp\n');
    expect(result.stdout).toMatch(/bind: http:\/\/127\.0\.0\.1:8000\nworkers: 1\n/);
    expect(result.stdout).toMatch(/configuration OK\n$/);
  });

  it('--check fails on an application that cannot be loaded', async () => {
    const result = await run(['serve', 'not-callable.ts', '--check']);
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'ngi: not-callable.ts:application is not a function (it is an object with handler); an application is (environ, startResponse) => body\n' });
  });

  it('--check names the line of a CommonJS module that requires a package not installed, not a frame of Node\'s', async () => {
    const result = await run(['serve', 'commonjs/missing-dependency.cjs', '--check']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^ngi: error while loading commonjs\/missing-dependency\.cjs: Error: Cannot find module 'a-package-nobody-installed' \(at commonjs\/missing-dependency\.cjs:2:\d+\)\n$/);
  });

  it('--check gives up on an application still loading after --timeout, and names one whose top-level await cannot settle', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'busy.mjs'), 'setInterval(() => {}, 1000);\nawait new Promise(() => {});\nexport const application = () => [];\n');
    writeFileSync(join(dir, 'stalled.mjs'), 'await new Promise(() => {});\nexport const application = () => [];\n');
    const busy = ngi(['serve', 'busy.mjs', '--check', '--timeout', '1'], { cwd: dir });
    expect(await busy.exited).toEqual({ code: 1, signal: null });
    expect(busy.stderr()).toBe('ngi: busy.mjs was still loading the application after 1s (--timeout)\n');
    const stalled = ngi(['serve', 'stalled.mjs', '--check'], { cwd: dir });
    expect(await stalled.exited).toEqual({ code: 1, signal: null });
    expect(stalled.stderr()).toBe('ngi: stalled.mjs never finished loading: an await at its top level waits on something that cannot settle\n');
  });

  it('--check fails on an Express app exported without fromExpress, which would fail every request', async () => {
    const result = await run(['serve', 'unwrapped-express.ts', '--check']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'ngi: unwrapped-express.ts:default is not an NGI application: got an Express app: wrap it, fromExpress(app) from @ngi/express\n',
    });
    expect((await run(['serve', 'unwrapped-koa.ts', '--check'])).stderr).toBe(
      'ngi: unwrapped-koa.ts:application is not an NGI application: got a Koa app: wrap it, fromKoa(app) from @ngi/koa\n',
    );
    expect((await run(['serve', 'class-export.ts', '--check'])).stderr).toBe(
      'ngi: class-export.ts:application is not an NGI application: got a class: an application is a function, called without new\n',
    );
    expect((await run(['serve', 'unwrapped-fetch.ts', '--check'])).stderr).toBe(
      'ngi: unwrapped-fetch.ts:default is not an NGI application: got an object with fetch(): wrap its handler, fromFetch(app.fetch) from @ngi/fetch\n',
    );
  });

  it('--reload runs one worker over WORKERS in the settings module, which is for production', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'settings.mjs'), "export const APPLICATION = 'app.mjs';\nexport const WORKERS = 3;\n");
    writeFileSync(join(dir, 'app.mjs'), 'export const application = (environ, startResponse) => (startResponse("204 No Content", []), []);\n');
    const result = await run(['serve', '--check', '--reload'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('workers: 1\n');
    const fromEnv = await run(['serve', '--check', '--reload'], { cwd: dir, env: { WEB_CONCURRENCY: '2' } });
    expect(fromEnv).toEqual({ code: 2, stdout: '', stderr: 'ngi: --reload runs one worker process; drop --workers, NGI_WORKERS or WEB_CONCURRENCY\n' });
  });

  it('precedence: command line > environment > settings module > defaults', async () => {
    const project = join(fixtures, 'project');
    const fromSettings = await run(['serve', '--check'], { env: { NGI_SETTINGS_MODULE: join(project, 'settings.ts') } });
    expect(fromSettings.stdout).toMatch(/application: APPLICATION of project\/settings\.ts\n/);
    expect(fromSettings.stdout).toMatch(/bind: http:\/\/127\.0\.0\.1:8123\nworkers: 3\n/);
    expect(fromSettings.stdout).toContain('keep-alive: 7s\n');
    expect(fromSettings.stdout).toContain('graceful-timeout: 30s\n');
    const fromEnv = await run(['serve', '--check'], {
      env: { NGI_SETTINGS_MODULE: join(project, 'settings.ts'), NGI_WORKERS: '4', PORT: '9000', NGI_KEEP_ALIVE: '2' },
    });
    expect(fromEnv.stdout).toMatch(/bind: http:\/\/0\.0\.0\.0:9000\nworkers: 4\n/);
    expect(fromEnv.stdout).toContain('keep-alive: 2s\n');
    const fromLine = await run(['serve', '--check', '--settings', join(project, 'settings.ts'), '-w', '5', '-b', '127.0.0.1:7000', '-b', 'unix:s.sock'], {
      env: { NGI_WORKERS: '4', PORT: '9000', WEB_CONCURRENCY: '6' },
    });
    expect(fromLine.stdout).toContain(`bind: http://127.0.0.1:7000 unix:${join(fixtures, 's.sock')}\nworkers: 5\n`);
    const fromPlatform = await run(['serve', 'app.ts', '--check'], { env: { WEB_CONCURRENCY: '6' } });
    expect(fromPlatform.stdout).toContain('workers: 6\n');
  });

  it("--bind takes gunicorn's unix://PATH (relative to the working directory, as unix:PATH) and tcp://HOST:PORT", async () => {
    const result = await run(['serve', 'app.ts', '--check', '-b', 'unix://run/app.sock', '-b', 'unix:///tmp/abs.sock', '-b', 'tcp://[::1]:9000']);
    expect(result.stdout).toContain(`bind: unix:${join(fixtures, 'run', 'app.sock')} unix:/tmp/abs.sock http://[::1]:9000\n`);
  });

  it('the settings module named in package.json ("ngi.settings") is the default', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ngi: { settings: join(fixtures, 'project', 'settings.ts') } }));
    const result = await run(['serve', '--check'], { cwd: dir });
    expect(result.stdout).toContain(`settings: ${join(fixtures, 'project', 'settings.ts')}\n`);
    expect(result.stdout).toContain('bind: http://127.0.0.1:8123\n');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ngi: { settings: 'gone.ts' } }));
    expect((await run(['serve', '--check'], { cwd: dir })).stderr).toBe(`ngi: settings module named by "ngi.settings" in package.json not found: gone.ts (looked in ${dir})\n`);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ngi: { settings: 5 } }));
    expect(await run(['serve', '--check'], { cwd: dir })).toEqual({ code: 2, stdout: '', stderr: `ngi: "ngi.settings" in ${join(dir, 'package.json')} must be the path of the settings module, got 5\n` });
  });

  it('new NAME writes the project, and refuses to overwrite it or to take a bad name', async () => {
    const dir = tempDir();
    const result = await run(['new', 'blog'], { cwd: dir });
    expect(result.code).toBe(0);
    for (const file of ['package.json', 'README.md', 'blog/app.ts', 'blog/settings.ts']) expect(existsSync(join(dir, 'blog', file))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(dir, 'blog', 'package.json'), 'utf8')) as { ngi: unknown; dependencies: Record<string, string> };
    expect(manifest.ngi).toEqual({ settings: 'blog/settings.ts' });
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['@ngi/cli', '@ngi/core', '@ngi/node']);
    expect(readFileSync(join(dir, 'blog', 'blog', 'settings.ts'), 'utf8')).toContain("export const APPLICATION = './app.ts:application';");
    expect(await run(['new', 'blog'], { cwd: dir })).toEqual({ code: 1, stdout: '', stderr: `ngi: ${join(dir, 'blog')} already exists; ngi new never overwrites a directory\n` });
    expect((await run(['new', 'My-Site'], { cwd: dir })).stderr).toBe('ngi: "My-Site" is not a valid project name: use lower-case letters, digits and _, starting with a letter\n');
    expect((await run(['new'], { cwd: dir })).code).toBe(2);
  });

  it('serve runs workers from the bin, and the AbortSignal option stops it like TERM', async () => {
    const controller = new AbortController();
    let stderr = '';
    let ready!: (url: string) => void;
    const url = new Promise<string>((resolve) => (ready = resolve));
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        stderr += String(chunk);
        const match = /listening on (http:\/\/\S+)/.exec(stderr);
        if (match) ready(match[1]!);
        done();
      },
    });
    const exit = run(['serve', 'app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off'], { stderr: stream, signal: controller.signal, handleSignals: false });
    const res = await get(`${await url}/in-process`);
    expect(res.body).toBe('hello /in-process\n');
    controller.abort();
    expect((await exit).code).toBe(0);
    expect(stderr).toContain('stopping: finishing the requests in flight');
  });
});
