import { dirname, isAbsolute } from 'node:path';
import { checkOptions, notAnApplication, type Application } from '@ngi/core';
import { LoadError } from './_errors.ts';
import { displayPath, importFile, resolveModule } from './_import.ts';
import { runWithSettings, withSettings, type Settings } from './settings.ts';

export interface LoadApplicationOptions {
  /**
   * What the application's code reads with `getSettings()`: an object, or the path of a
   * settings module to load. Each application loaded with its own settings keeps them,
   * so several sites can share one process.
   */
  settings?: Settings | string | undefined;
  /**
   * The export, or an `APPLICATION` function of the settings, is a factory: call it (with no
   * arguments, inside the settings) and serve the application it returns or resolves to.
   * @default false
   */
  factory?: boolean | undefined;
  /**
   * The directory relative module paths are resolved against.
   * @default process.cwd()
   */
  cwd?: string | undefined;
}

/** A loaded settings module. */
export interface LoadedSettings {
  /** The module's named exports, over the properties of a default-exported object. */
  settings: Settings;
  /** The file it was loaded from. */
  file: string;
}

const DEFAULT_EXPORTS = ['application', 'default'];

/**
 * Loads an application from `MODULE[:EXPORT]` (a `.ts`, `.mts`, `.js` or `.mjs` path; the
 * export defaults to `application`, then `default`). Without `spec`, the `APPLICATION`
 * setting names it (relative to the settings module, like an import there). With
 * `settings`, the module is imported and the application runs inside them: code in it
 * reads them with `getSettings()`, without any process-wide state.
 * Rejects with a one-line error for a missing module or export, a value that is not a
 * function, or a syntax error (with its location).
 */
export async function loadApplication(spec?: string, options: LoadApplicationOptions = {}): Promise<Application> {
  checkOptions(options, 'loadApplication', { settings: null, factory: 'boolean', cwd: 'string' });
  const cwd = options.cwd ?? process.cwd();
  const loaded = typeof options.settings === 'string' ? await loadSettings(options.settings, cwd) : undefined;
  const settings = loaded?.settings ?? (options.settings as Settings | undefined);
  const inSettings = <T>(fn: () => T): T => (settings ? runWithSettings(settings, fn) : fn());
  let target: unknown;
  let base = cwd;
  if (spec !== undefined) target = spec;
  else if (settings?.APPLICATION !== undefined) {
    target = settings.APPLICATION;
    if (loaded) base = dirname(loaded.file);
  } else {
    throw new LoadError('no application: give MODULE[:EXPORT], or set APPLICATION in the settings module');
  }
  if (typeof target !== 'string' && typeof target !== 'function') {
    throw new LoadError(`APPLICATION must be a "module:export" string or an application function, got ${describe(target)}`);
  }
  const factory = options.factory ?? false;
  const app =
    typeof target !== 'function'
      ? await inSettings(() => importApplication(target, base, factory, cwd))
      : factory
        ? await inSettings(() => callFactory(target, 'APPLICATION'))
        : application(target, 'APPLICATION');
  return settings ? withSettings(settings)(app) : app;
}

/** Loads a settings module: its named exports (over a default-exported object's properties). */
export async function loadSettings(path: string, cwd = process.cwd()): Promise<LoadedSettings> {
  const file = resolveModule(path, cwd, 'settings module');
  const namespace = await importFile(file, cwd);
  const fallback = namespace.default;
  const settings: Record<string, unknown> = fallback !== null && typeof fallback === 'object' ? { ...fallback } : {};
  for (const [key, value] of Object.entries(namespace)) if (key !== 'default') settings[key] = value;
  return { settings: Object.freeze(settings), file };
}

/** Splits `MODULE[:EXPORT]`; a colon followed by a path (as in `C:\`) is not an export. */
export function parseSpec(spec: string): { module: string; exportName: string | undefined } {
  const colon = spec.lastIndexOf(':');
  const name = spec.slice(colon + 1);
  if (colon > 0 && /^[A-Za-z_$][\w$]*$/.test(name)) return { module: spec.slice(0, colon), exportName: name };
  return { module: spec, exportName: undefined };
}

async function importApplication(spec: string, base: string, factory: boolean, cwd: string): Promise<Application> {
  const { module, exportName } = parseSpec(spec);
  if (module === '') throw new LoadError(`no module in "${spec}": use MODULE[:EXPORT]`);
  const file = resolveModule(module, isAbsolute(module) ? '/' : base);
  const namespace = await importFile(file, cwd);
  const [name, value] = pickExport(namespace, exportName, displayPath(file, cwd));
  const label = `${displayPath(file, cwd)}:${name}`;
  // A Koa app, a Fastify instance or a fetch app (Hono) is an object: named as such, with the adapter it needs.
  const framework = typeof value === 'object' && value !== null && ('callback' in value || 'inject' in value || 'fetch' in value);
  if (typeof value !== 'function' && !(framework && !factory)) {
    throw new LoadError(`${label} is not a function (it is ${describe(value)})${factory ? '' : '; an application is (environ, startResponse) => body'}`);
  }
  return factory ? callFactory(value, label) : application(value, label);
}

/** The application a factory returns or resolves to; `label` names it in errors. */
async function callFactory(factory: unknown, label: string): Promise<Application> {
  let app: unknown;
  try {
    app = await (factory as () => unknown)();
  } catch (error) {
    throw new LoadError(`the factory ${label}() threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
  if (typeof app !== 'function') throw new LoadError(`the factory ${label}() returned ${describe(app)}, not an application function`);
  return application(app, `what the factory ${label}() returned`);
}

/** `value` as an application; a LoadError for a framework's app exported unwrapped (an Express app is a function too). */
function application(value: unknown, label: string): Application {
  const why = notAnApplication(value);
  if (why !== undefined) throw new LoadError(`${label} is not an NGI application: ${why}`);
  return value as Application;
}

/** The named export, or `application` then `default`; module.exports of a CommonJS module count too. */
function pickExport(namespace: Record<string, unknown>, wanted: string | undefined, file: string): [string, unknown] {
  const commonjs = namespace.default !== null && typeof namespace.default === 'object' ? (namespace.default as Record<string, unknown>) : {};
  for (const name of wanted === undefined ? DEFAULT_EXPORTS : [wanted]) {
    if (name in namespace && namespace[name] !== undefined) return [name, namespace[name]];
    if (name !== 'default' && name in commonjs) return [name, commonjs[name]];
  }
  const names = Object.keys(namespace).join(', ') || 'none';
  const missing = wanted === undefined ? 'no export "application" and no default export' : `no export "${wanted}"`;
  throw new LoadError(`${file} has ${missing} (its exports: ${names})`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
  // `module.exports = { app }` in CommonJS: the keys say where the application is.
  const keys = Object.keys(value);
  if (keys.length === 0) return 'an object';
  return `an object with ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}`;
}
