import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LoadError, oneLine } from './_errors.ts';

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cts', '.cjs'];

/** The file a module path names, trying the usual extensions and `index.*`; a LoadError if none exists. */
export function resolveModule(path: string, base: string, what = 'module'): string {
  const full = resolve(base, path);
  const candidates = [full, ...EXTENSIONS.map((ext) => full + ext), ...EXTENSIONS.map((ext) => resolve(full, 'index' + ext))];
  const found = candidates.find((file) => existsSync(file) && statSync(file).isFile());
  if (found === undefined) throw new LoadError(`${what} not found: ${path} (looked in ${base})`);
  return found;
}

/** Imports a file; a failure becomes a one-line LoadError that says where (syntax errors with their location). */
export async function importFile(file: string, cwd = process.cwd()): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw await describeFailure(error, file, cwd);
  }
}

/** A path for messages: relative to the working directory when it is inside it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel.startsWith('..') || rel === '' ? file : rel;
}

async function describeFailure(error: unknown, file: string, cwd: string): Promise<LoadError> {
  const show = (path: string): string => displayPath(path, cwd);
  const name = show(file);
  if (!(error instanceof Error)) return new LoadError(`error while loading ${name}: ${String(error)}`);
  const code = (error as { code?: unknown }).code;
  // esbuild (through tsx) reports TypeScript syntax errors as "file:line:col: ERROR: text", col from 0.
  const transform = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(error.message);
  if (transform) {
    return new LoadError(`syntax error at ${show(sourceFile(transform[1]!))}:${transform[2]}:${Number(transform[3]) + 1}: ${transform[4]}`);
  }
  if (error instanceof SyntaxError) {
    const where = await locateSyntaxError(file, show);
    return new LoadError(`syntax error ${where ? `at ${where}` : `in ${name} or a module it imports`}: ${oneLine(error.message)}`);
  }
  if (typeof code === 'string' && code.startsWith('ERR_')) return new LoadError(`cannot load ${name}: ${oneLine(error.message)}`);
  const at = userFrame(error.stack, show);
  // A require() that found nothing: its "Require stack" repeats what the location says.
  const message = code === 'MODULE_NOT_FOUND' ? error.message.split('\n', 1)[0]! : error.message;
  return new LoadError(`error while loading ${name}: ${error.name}: ${oneLine(message)}${at ? ` (at ${at})` : ''}`);
}

/** tsx hands esbuild `.mts`/`.cts` files under a `.ts` name: the file on disk is the one to show. */
function sourceFile(reported: string): string {
  if (existsSync(reported) || !reported.endsWith('.ts')) return reported;
  return ['.mts', '.cts'].map((ext) => reported.slice(0, -3) + ext).find((file) => existsSync(file)) ?? reported;
}

/** The first stack frame in a file of the project (not Node's, not a dependency's). */
function userFrame(stack: string | undefined, show: (path: string) => string): string | undefined {
  // A path that starts the location, not the `/modules/…` inside Node's `node:internal/modules/…`.
  for (const match of (stack ?? '').matchAll(/(?:^|[\s(])(file:\/\/[^\s)]+|\/[^\s):]+):(\d+):(\d+)\)?$/gm)) {
    const path = match[1]!.startsWith('file:') ? fileURLToPath(match[1]!) : match[1]!;
    if (!path.includes('/node_modules/')) return `${show(path)}:${match[2]}:${match[3]}`;
  }
  return undefined;
}

/**
 * V8 keeps the location of an ES module syntax error out of the error object (Node prints it
 * only for an uncaught one), so the module is imported once more in a child process and the
 * location read from what Node prints there. Only on this error path.
 */
function locateSyntaxError(file: string, show: (path: string) => string): Promise<string | undefined> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const script = `await import(${JSON.stringify(pathToFileURL(file).href)})`;
  return new Promise((done) => {
    execFile(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { timeout: 15_000 }, (_error, _out, stderr) => {
      const lines = String(stderr).split('\n');
      // An ES module's location is a file URL, a CommonJS module's a path.
      const location = /^(file:\/\/\S+|\/\S+):(\d+)$/;
      const index = lines.findIndex((line) => location.test(line));
      if (index === -1) return done(undefined);
      const [, where, line] = location.exec(lines[index]!)!;
      const caret = lines[index + 2]?.indexOf('^') ?? -1;
      const path = where!.startsWith('file:') ? fileURLToPath(where!) : where!;
      done(`${show(path)}:${line}${caret >= 0 ? `:${caret + 1}` : ''}`);
    });
  });
}
