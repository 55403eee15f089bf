import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const bin = join(import.meta.dirname, '..', 'bin', 'ngi.js');
export const fixtures = join(import.meta.dirname, 'fixtures');

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** The bin file to run. @default this package's bin/ngi.js */
  command?: string;
}

/** A running `ngi` binary, its output so far, and ways to wait on it. */
export interface Ngi {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr (or stdout), waiting up to `ms`. */
  waitFor(pattern: RegExp, ms?: number, stream?: 'stderr' | 'stdout'): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
const temps: string[] = [];

/** Starts the real binary (the bin file under Node, as the `ngi` command runs). */
export function ngi(args: string[], options: RunOptions = {}): Ngi {
  const child = spawn(process.execPath, [options.command ?? bin, ...args], {
    cwd: options.cwd ?? fixtures,
    env: { ...process.env, NGI_WORKER_CONFIG: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, as under a shell: signals can go to the primary alone or to all.
    detached: true,
  });
  running.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (data: Buffer) => ((out += data), waiters.forEach((w) => w())));
  child.stderr!.on('data', (data: Buffer) => ((err += data), waiters.forEach((w) => w())));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => (running.delete(child), resolve({ code, signal }), waiters.forEach((w) => w()))),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, ms = 10_000, stream = 'stderr') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = (stream === 'stderr' ? err : out).match(pattern);
          if (match) return done(() => resolve(match));
          if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`ngi exited before ${pattern}; stderr: ${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${pattern}; stderr: ${err}`))), ms);
        const done = (settle: () => void): void => (clearTimeout(timer), waiters.delete(check), settle());
        waiters.add(check);
        check();
      });
    },
  };
}

/** Starts the binary and resolves with its first URL once the banner is printed. */
export async function serving(args: string[], options: RunOptions = {}): Promise<Ngi & { url: string }> {
  const run = ngi(['serve', ...args], options);
  const [, url] = await run.waitFor(/listening on (http:\/\/\S+)/);
  return Object.assign(run, { url: url! });
}

/** Sends a signal to the primary's whole process group, as a terminal's Ctrl-C does. */
export function signalGroup(run: Ngi, signal: NodeJS.Signals): void {
  process.kill(-run.child.pid!, signal);
}

/** Kills what is still running: each binary's process group (the primary and its workers). */
export async function stopAll(): Promise<void> {
  const children = [...running];
  for (const child of children) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A temporary directory, removed by stopAll(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ngi-cli-'));
  temps.push(dir);
  return dir;
}

/** A GET over a fresh connection (no keep-alive): status, headers and the whole body, or the error. */
export function get(url: string, init: { headers?: Record<string, string>; socketPath?: string; agent?: Agent; timeout?: number } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { headers: init.headers, socketPath: init.socketPath, agent: init.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // No answer within `timeout` ms: the connection hangs.
    if (init.timeout !== undefined) req.setTimeout(init.timeout, () => req.destroy(new Error('no answer')));
    req.end();
  });
}
