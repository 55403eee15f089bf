import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './_errors.ts';
import { projectFiles } from './_templates.ts';

const NAME = /^[a-z][a-z0-9_]*$/;
const TAKEN = new Set(['ngi', 'node', 'core', 'test', 'node_modules']);

/**
 * Writes a runnable project in `cwd/name` (Django's `startproject`): package.json (whose
 * `ngi.settings` names the settings module), `name/app.ts`, `name/settings.ts`,
 * `name/app.test.ts`, a README.
 * Returns the paths written. Refuses a name that is not a lower-case identifier and a
 * directory that already exists.
 */
export function newProject(name: string, cwd: string, version: string): string[] {
  if (!NAME.test(name)) {
    throw new UsageError(`"${name}" is not a valid project name: use lower-case letters, digits and _, starting with a letter`);
  }
  if (TAKEN.has(name)) throw new UsageError(`"${name}" would shadow a package the project uses; choose another name`);
  const root = resolve(cwd, name);
  if (existsSync(root)) throw new UsageError(`${root} already exists; ngi new never overwrites a directory`, 1);
  const written: string[] = [];
  for (const [path, content] of Object.entries(projectFiles(name, version))) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content, { flag: 'wx' });
    written.push(file);
  }
  return written;
}
