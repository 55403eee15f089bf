import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import type { Writable } from 'node:stream';
import { MAIN_HELP, NEW_HELP, parseNewArgs, parseServeArgs, serveHelp } from './_args.ts';
import { resolveConfig, type ServeConfig } from './_config.ts';
import { LoadError, UsageError, oneLine } from './_errors.ts';
import { WORKER_CONFIG } from './_fork.ts';
import { formatBind } from './_parsers.ts';
import { runPrimary } from './_primary.ts';
import { runWorker } from './_worker.ts';
import { loadApplication } from './load.ts';
import { newProject } from './new-project.ts';

export interface MainOptions {
  /**
   * The environment read for `NGI_*`, `PORT` and `WEB_CONCURRENCY`.
   * @default process.env
   */
  env?: Record<string, string | undefined> | undefined;
  /**
   * The working directory relative paths are resolved against (and the workers run in).
   * @default process.cwd()
   */
  cwd?: string | undefined;
  /**
   * Where results and the access log go (the workers' output is piped here when it is not
   * the process's own).
   * @default process.stdout
   */
  stdout?: Writable | undefined;
  /**
   * Where the banner, server messages and errors go.
   * @default process.stderr
   */
  stderr?: Writable | undefined;
  /** Aborting it stops a running `ngi serve` as SIGTERM does. */
  signal?: AbortSignal | undefined;
  /**
   * Handle TERM, INT, QUIT, HUP, TTIN, TTOU and USR1 while serving.
   * @default true
   */
  handleSignals?: boolean | undefined;
}

const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/**
 * The `ngi` command: `ngi serve [MODULE[:EXPORT]] [options]`, `ngi new NAME`, `--help`,
 * `--version`. Resolves with the exit code: 0, 1 for a problem found while starting, 2 for
 * a bad command line. A user's mistake is one line on stderr, never a stack trace.
 * In a worker process started by `ngi serve`, it runs the worker and never resolves.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const workerConfig = process.env[WORKER_CONFIG];
  if (cluster.isWorker && workerConfig) return runWorker(JSON.parse(workerConfig) as ServeConfig);
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  try {
    const [command, ...args] = argv;
    if (command === 'serve') return await serve(args, options, stdout, stderr);
    if (command === 'new') return create(args, options, stdout);
    if (command === '-V' || command === '--version') return (stdout.write(`ngi ${VERSION}\n`), 0);
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      (command === undefined ? stderr : stdout).write(MAIN_HELP);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}" (the commands are serve and new; see ngi --help)`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    stderr.write(`ngi: ${oneLine(error.message)}\n`);
    return error.exitCode;
  }
}

async function serve(args: readonly string[], options: MainOptions, stdout: Writable, stderr: Writable): Promise<number> {
  const line = parseServeArgs(args);
  if (line.help) return (stdout.write(serveHelp()), 0);
  const cwd = options.cwd ?? process.cwd();
  const { config } = await resolveConfig(line, options.env ?? process.env, cwd);
  const label = config.application ?? `APPLICATION of ${relative(cwd, config.settingsFile!)}`;
  if (line.check) {
    const before = serversListening();
    await bounded(loadApplication(config.application, { ...(config.settingsFile ? { settings: config.settingsFile } : {}), factory: config.factory, cwd }), config, label);
    // A legacy app's `app.listen()` at the top level of its module would listen in every
    // worker, outside the server's limits and access log.
    // After a turn: a listen() given a host binds once its lookup answered.
    await new Promise((resolve) => setImmediate(resolve));
    if (serversListening() > before) {
      throw new LoadError(`${label} started a server of its own while loading (app.listen() at its top level?): export the application and let ngi serve listen`);
    }
    stdout.write(describeConfig(config, label));
    return 0;
  }
  return runPrimary(config, {
    stdout,
    stderr,
    handleSignals: options.handleSignals ?? true,
    signal: options.signal,
    label,
    version: VERSION,
  });
}

/**
 * `--check`'s load, within --timeout as a worker's boot is. An await at the module's top level
 * that nothing can settle ends it too: Node would exit with code 13 and not a word.
 */
async function bounded<T>(loading: Promise<T>, config: ServeConfig, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let stalled: (() => void) | undefined;
  const limits = new Promise<never>((_, reject) => {
    if (config.timeout > 0) {
      const timeout = (): void => reject(new LoadError(`${label} was still loading the application after ${config.timeout}s (--timeout)`));
      // Unref'd: a load waiting on nothing empties the event loop at once, which 'beforeExit' reports.
      timer = setTimeout(timeout, config.timeout * 1000).unref();
    }
    stalled = () => reject(new LoadError(`${label} never finished loading: an await at its top level waits on something that cannot settle`));
    process.once('beforeExit', stalled);
  });
  try {
    return await Promise.race([loading, limits]);
  } finally {
    clearTimeout(timer);
    process.off('beforeExit', stalled!);
  }
}

/** The servers this process listens on (TCP and Unix sockets). */
function serversListening(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap' || resource === 'PipeServerWrap').length;
}

function create(args: readonly string[], options: MainOptions, stdout: Writable): number {
  const { name, help } = parseNewArgs(args);
  if (help) return (stdout.write(NEW_HELP), 0);
  if (name === undefined) throw new UsageError('ngi new needs a NAME (see ngi new --help)');
  newProject(name, options.cwd ?? process.cwd(), VERSION);
  stdout.write(`Wrote ${name}/. Next:\n  cd ${name}\n  npm install\n  npx ngi serve\n`);
  return 0;
}

/** `--check`'s report: the configuration as resolved, one setting a line. */
function describeConfig(config: ServeConfig, label: string): string {
  const rows: [string, unknown][] = [
    ['application', label],
    ['settings', config.settingsFile ?? '(none)'],
    ['bind', config.binds.map(formatBind).join(' ')],
    ['workers', config.workers],
    ['max-requests', `${config.maxRequests} (jitter ${config.maxRequestsJitter})`],
    ['timeout', `${config.timeout}s`],
    ['graceful-timeout', `${config.gracefulTimeout}s`],
    ['keep-alive', `${config.keepAlive}s`],
    ['request-timeout', `${config.requestTimeout}s`],
    ['max-header-size', config.maxHeaderSize],
    ['max-body-size', config.maxBodySize || 'no limit'],
    ['access-log', config.accessLog ?? 'off'],
    ['access-log-format', config.accessLogFormat],
    ['forwarded-allow-ips', config.forwardedAllowIps.join(',')],
    ['forwarded-headers', config.forwardedHeaders.join(',')],
    ['reload', config.reload],
  ];
  return `${rows.map(([name, value]) => `${name}: ${String(value)}`).join('\n')}\nconfiguration OK\n`;
}
