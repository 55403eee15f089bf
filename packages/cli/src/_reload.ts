import { watch, readdirSync, type FSWatcher } from 'node:fs';
import { join, relative } from 'node:path';

const SOURCES = /\.(?:[cm]?[jt]sx?|json)$/;
const SKIPPED = new Set(['node_modules', 'dist', 'coverage']);
const MAX_DIRECTORIES = 2000;

/**
 * Watches the source files under `dirs` (not node_modules, dist or dot-directories) and
 * calls `onChange` once per burst of changes (editors write a file in several steps).
 * Returns a function that stops watching.
 */
export function watchFiles(dirs: readonly string[], onChange: (file: string) => void, delay = 100): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let changed = '';
  const fire = (): void => onChange(changed);
  for (const dir of directories(dirs)) {
    try {
      const watcher = watch(dir, (_event, name) => {
        if (name === null || !SOURCES.test(name)) return;
        changed = relative(process.cwd(), join(dir, name)) || name;
        clearTimeout(timer);
        timer = setTimeout(fire, delay);
      });
      watcher.on('error', () => {});
      watchers.push(watcher);
    } catch {
      // A directory removed since it was listed.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}

/** Every directory under the roots, without the skipped ones; bounded, so a huge tree cannot stall startup. */
function directories(roots: readonly string[]): string[] {
  const found: string[] = [];
  const queue = [...roots];
  while (queue.length > 0 && found.length < MAX_DIRECTORIES) {
    const dir = queue.shift()!;
    found.push(dir);
    try {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && !entry.name.startsWith('.') && !SKIPPED.has(entry.name)) queue.push(join(dir, entry.name));
      }
    } catch {
      // Unreadable: not watched.
    }
  }
  return found;
}
