import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { compileFormat } from './access-log.ts';
import { UsageError } from './_errors.ts';
import { displayPath, resolveModule } from './_import.ts';
import { forwardedFrom } from './_forwarded.ts';
import { OPTIONS, settingName, type OptionName } from './_options.ts';
import { list, type Bind } from './_parsers.ts';
import { loadSettings, type LoadedSettings } from './load.ts';

/** Everything a worker needs to serve; plain data, handed to worker processes as JSON. */
export interface ServeConfig {
  /** `MODULE[:EXPORT]` from the command line or `NGI_APPLICATION`; undefined: `APPLICATION` of the settings. */
  application: string | undefined;
  /** The settings module file, if there is one. */
  settingsFile: string | undefined;
  cwd: string;
  factory: boolean;
  binds: Bind[];
  workers: number;
  maxRequests: number;
  maxRequestsJitter: number;
  /** Seconds. */
  timeout: number;
  gracefulTimeout: number;
  keepAlive: number;
  requestTimeout: number;
  /** Bytes; 0 for no limit. */
  maxHeaderSize: number;
  maxBodySize: number;
  /** `-` (stdout), a file path, or null (off). */
  accessLog: string | null;
  accessLogFormat: string;
  forwardedAllowIps: string[];
  forwardedHeaders: string[];
  reload: boolean;
  reloadDirs: string[];
}

/** What the command line gave: flag values by flag name, and the positional MODULE. */
export interface CommandLine {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  module: string | undefined;
}

type Env = Record<string, string | undefined>;

const DEFAULTS = {
  factory: false, bind: [{ kind: 'tcp', host: '127.0.0.1', port: 8000 }] as Bind[], workers: 1, maxRequests: 0, maxRequestsJitter: 0, timeout: 30,
  gracefulTimeout: 30, keepAlive: 5, maxHeaderSize: 16384, maxBodySize: 0, requestTimeout: 300, accessLog: '-',
  accessLogFormat: 'combined', forwardedAllowIps: ['127.0.0.1', '::1', 'unix'], forwardedHeaders: ['for', 'proto'],
  reload: false, reloadDir: [] as string[],
} satisfies Record<OptionName, unknown>;

/**
 * Resolves `ngi serve`'s configuration. Precedence, highest first: command line, environment
 * (`NGI_*`, then `PORT` and `WEB_CONCURRENCY`), settings module, defaults.
 */
export async function resolveConfig(line: CommandLine, env: Env, cwd: string): Promise<{ config: ServeConfig; settings: LoadedSettings | undefined }> {
  const settingsPath = findSettings(line, env, cwd);
  const settings = settingsPath === undefined ? undefined : await loadSettings(settingsPath, cwd);
  const get = <K extends OptionName>(name: K): (typeof DEFAULTS)[K] => option(name, line, env, settings, cwd) as (typeof DEFAULTS)[K];
  const application = line.module ?? (env.NGI_APPLICATION || undefined);
  if (application === undefined && settings?.settings.APPLICATION === undefined) {
    const where = settings ? `APPLICATION is not set in ${displayPath(settings.file, cwd)}` : 'no settings module found (./settings)';
    throw new UsageError(`no application to serve: give MODULE[:EXPORT], or set APPLICATION in the settings module (${where})`);
  }
  const accessLog = get('accessLog');
  const reload = get('reload');
  const config: ServeConfig = {
    application,
    settingsFile: settings?.file,
    cwd,
    factory: get('factory'),
    binds: get('bind'),
    // WORKERS in the settings module is for production: `npm run dev` (--reload) must keep working.
    workers: reload && !workersGivenOutside(line, env) ? 1 : get('workers'),
    maxRequests: get('maxRequests'),
    maxRequestsJitter: get('maxRequestsJitter'),
    timeout: get('timeout'),
    gracefulTimeout: get('gracefulTimeout'),
    keepAlive: get('keepAlive'),
    requestTimeout: get('requestTimeout'),
    maxHeaderSize: get('maxHeaderSize'),
    maxBodySize: get('maxBodySize'),
    accessLog: accessLog === 'off' ? null : accessLog === '-' ? '-' : resolve(cwd, accessLog),
    accessLogFormat: get('accessLogFormat'),
    forwardedAllowIps: get('forwardedAllowIps'),
    forwardedHeaders: get('forwardedHeaders'),
    reload,
    reloadDirs: (get('reloadDir').length > 0 ? get('reloadDir') : [cwd]).map((dir) => resolve(cwd, dir)),
  };
  for (const bind of config.binds) if (bind.kind === 'unix') bind.path = resolve(cwd, bind.path);
  check(config);
  return { config, settings };
}

function option(name: OptionName, line: CommandLine, env: Env, settings: LoadedSettings | undefined, cwd: string): unknown {
  const spec = OPTIONS[name];
  const setting = settingName(spec);
  const flag = line.values[spec.flag];
  if (flag !== undefined) {
    return spec.type === 'list' ? (flag as string[]).flatMap((item) => spec.parse(item, `--${spec.flag}`) as string[]) : spec.parse(flag, `--${spec.flag}`);
  }
  const variable = env[`NGI_${setting}`];
  // Empty, a list means none (NGI_FORWARDED_ALLOW_IPS= trusts no peer, as --forwarded-allow-ips ''
  // does); any other option is taken as unset.
  if (variable || (variable === '' && spec.parse === list)) return spec.parse(variable, `NGI_${setting}`);
  // Platforms (Heroku-style) set PORT and WEB_CONCURRENCY; a port given that way is meant to be reachable.
  if (name === 'bind' && env.PORT) return [{ kind: 'tcp', host: '0.0.0.0', port: port(env.PORT) }];
  if (name === 'workers' && env.WEB_CONCURRENCY) return spec.parse(env.WEB_CONCURRENCY, 'WEB_CONCURRENCY');
  if (settings && settings.settings[setting] !== undefined) {
    return spec.parse(settings.settings[setting], `${setting} in ${displayPath(settings.file, cwd)}`);
  }
  return DEFAULTS[name];
}

/** Whether the number of workers comes from the command line or the environment, not the settings module. */
function workersGivenOutside(line: CommandLine, env: Env): boolean {
  return line.values.workers !== undefined || Boolean(env.NGI_WORKERS) || Boolean(env.WEB_CONCURRENCY);
}

function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`PORT must be a port number (0 to 65535), got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * The settings module: `--settings`, else `NGI_SETTINGS_MODULE`, else the `ngi.settings` field of
 * ./package.json (written by `ngi new`), else ./settings if it exists. Named ones must exist.
 */
function findSettings(line: CommandLine, env: Env, cwd: string): string | undefined {
  const given = (line.values.settings as string | undefined) ?? (env.NGI_SETTINGS_MODULE || undefined);
  if (given !== undefined) return resolveModule(given, cwd, 'settings module');
  const project = projectSettings(cwd);
  if (project !== undefined) return resolveModule(project, cwd, 'settings module named by "ngi.settings" in package.json');
  try {
    return resolveModule('settings', cwd);
  } catch {
    return undefined;
  }
}

function projectSettings(cwd: string): string | undefined {
  const file = join(cwd, 'package.json');
  if (!existsSync(file)) return undefined;
  let field: unknown;
  try {
    field = (JSON.parse(readFileSync(file, 'utf8')) as { ngi?: { settings?: unknown } }).ngi?.settings;
  } catch {
    throw new UsageError(`${file} is not valid JSON`);
  }
  if (field !== undefined && typeof field !== 'string') throw new UsageError(`"ngi.settings" in ${file} must be the path of the settings module, got ${JSON.stringify(field)}`);
  return field;
}

/** Checks what needs more than one option, and compiles what can be compiled now. */
function check(config: ServeConfig): void {
  if (config.binds.length === 0) throw new UsageError('no address to listen on: give --bind HOST:PORT or unix:PATH');
  if (config.reload && config.workers > 1) throw new UsageError('--reload runs one worker process; drop --workers, NGI_WORKERS or WEB_CONCURRENCY');
  compileFormat(config.accessLogFormat);
  forwardedFrom(config.forwardedAllowIps, config.forwardedHeaders, false);
  if (config.accessLog !== null && config.accessLog !== '-') openLog(config.accessLog);
  // A misspelt directory would be watched never, and no edit reload the server.
  if (config.reload) for (const dir of config.reloadDirs) if (!isDirectory(dir)) throw new UsageError(`--reload-dir ${dir} is not a directory`);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

const LOG_ERRORS: Record<string, string> = { ENOENT: 'no such directory', EACCES: 'permission denied', EISDIR: 'it is a directory' };

/**
 * Opens the access log file (creating it, as serving would) here, before any worker starts:
 * a worker that cannot open it could only fail with a stack trace.
 */
function openLog(file: string): void {
  try {
    closeSync(openSync(file, 'a'));
  } catch (error) {
    const { code = '', message } = error as { code?: string; message: string };
    throw new UsageError(`cannot open the access log ${file}: ${LOG_ERRORS[code] ?? message}`, 1);
  }
}
