import { readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Application } from '@ngi/core';

/** A benchmark server's request listener. */
export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** A configuration served by `serve()` from @ngi/node instead of a plain `http.createServer`. */
export interface Served {
  serve: Application;
}

/** What each `bench/configs/*.ts` module exports. */
export interface ConfigModule {
  /** Configurations by name: each makes the listener a benchmark server runs. */
  configs: Record<string, () => Listener | Served | Promise<Listener>>;
  /** Comparisons: [subject, baseline, target ratio, or null for one shown for reference]. */
  comparisons: [string, string, number | null][];
}

/** Every configuration module in `bench/configs/`, merged. */
export async function loadConfigs(): Promise<ConfigModule> {
  const dir = new URL('./configs/', import.meta.url);
  const merged: ConfigModule = { configs: {}, comparisons: [] };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
    const module = (await import(new URL(file, dir).href)) as ConfigModule;
    Object.assign(merged.configs, module.configs);
    merged.comparisons.push(...module.comparisons);
  }
  return merged;
}
