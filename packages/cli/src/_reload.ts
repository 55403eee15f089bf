import { watch, readdirSync, statSync, type FSWatcher } from 'node:fs';
import { join, relative, sep } from 'node:path';

const SOURCES = /\.(?:[cm]?[jt]sx?|json)$/;
const SKIPPED = new Set(['node_modules', 'dist', 'coverage']);
const MAX_DIRECTORIES = 2000;

/**
 * Watches the source files under `dirs` (not node_modules, dist or dot-directories) and
 * calls `onChange` once per burst of changes (editors write a file in several steps).
 * Directories made later are watched too. Returns a function that stops watching.
 */
export function watchFiles(dirs: readonly string[], onChange: (file: string) => void, delay = 100): () => void {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let changed = '';
  const fire = (): void => onChange(changed);
  const change = (file: string): void => {
    changed = relative(process.cwd(), file) || file;
    clearTimeout(timer);
    timer = setTimeout(fire, delay);
  };
  const add = (roots: readonly string[]): string[] => {
    const added = directories(roots, MAX_DIRECTORIES - watchers.size).filter((dir) => !watchers.has(dir));
    for (const dir of added) {
      try {
        const watcher = watch(dir, (_event, name) => {
          if (name === null) return;
          const path = join(dir, name);
          if (SOURCES.test(name)) change(path);
          else if (watchers.has(path) && !isDirectory(path)) forget(path);
          else if (!watchers.has(path) && watched(name) && isDirectory(path)) {
            // fs.watch is not recursive here: a new directory needs its own watcher. One that
            // arrived with sources in it (a copy, a checkout) is a change in itself.
            const source = add([path]).flatMap((sub) => list(sub)).find((file) => SOURCES.test(file));
            if (source) change(source);
          }
        });
        watcher.on('error', () => {});
        watchers.set(dir, watcher);
      } catch {
        // A directory removed since it was listed.
      }
    }
    return added;
  };
  // A directory removed (a branch switch) stops its watchers; made again, it is watched anew.
  const forget = (gone: string): void => {
    for (const [dir, watcher] of watchers) {
      if (dir === gone || dir.startsWith(gone + sep)) (watcher.close(), watchers.delete(dir));
    }
  };
  add(dirs);
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers.values()) watcher.close();
    watchers.clear();
  };
}

/** Every directory under the roots, without the skipped ones; bounded, so a huge tree cannot stall startup. */
function directories(roots: readonly string[], max = MAX_DIRECTORIES): string[] {
  const found: string[] = [];
  const queue = [...roots];
  while (queue.length > 0 && found.length < max) {
    const dir = queue.shift()!;
    found.push(dir);
    try {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory() && watched(entry.name)) queue.push(join(dir, entry.name));
      }
    } catch {
      // Unreadable: not watched.
    }
  }
  return found;
}

/** Whether a directory of this name is watched: not node_modules, dist, coverage or a dot-directory. */
function watched(name: string): boolean {
  return !name.startsWith('.') && !SKIPPED.has(name);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The paths of the entries of a directory (none if it is gone). */
function list(dir: string): string[] {
  try {
    return readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
}
