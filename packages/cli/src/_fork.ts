import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { ServeConfig } from './_config.ts';
import type { ToPrimary, ToWorker } from './_messages.ts';

/** The environment variable that carries a worker's configuration, and marks it as one. */
export const WORKER_CONFIG = 'NGI_WORKER_CONFIG';

/** One worker process as the primary sees it. */
export interface Slot {
  worker: Worker;
  pid: number;
  ready: boolean;
  /** Told to stop: its exit is expected, not a crash. */
  stopping: boolean;
  retiring: boolean;
  /** It had an uncaught exception: it cannot be kept. */
  failed?: boolean;
  lastBeat: number;
  killTimer?: NodeJS.Timeout;
}

/** Where worker output goes when it is not the primary's own stdout/stderr (a caller of `main` gave streams). */
export interface WorkerOutput {
  stdout: Writable;
  stderr: Writable;
}

/**
 * Sets up `node:cluster` to start workers from the `ngi` bin (which registers the TypeScript
 * loader), whether the primary is the bin itself or a program that called `main`.
 */
export function setupCluster(config: ServeConfig, output: WorkerOutput): void {
  cluster.setupPrimary({
    exec: fileURLToPath(new URL('../bin/ngi.js', import.meta.url)),
    args: [],
    cwd: config.cwd,
    silent: output.stdout !== process.stdout || output.stderr !== process.stderr,
    serialization: 'json',
  });
}

/** Forks a worker; `onMessage` and `onExit` receive what happens to it. */
export function fork(
  config: ServeConfig,
  output: WorkerOutput,
  onMessage: (slot: Slot, message: ToPrimary) => void,
  onExit: (slot: Slot, code: number | null, signal: string | null) => void,
): Slot {
  const worker = cluster.fork({ [WORKER_CONFIG]: JSON.stringify(config) });
  const slot: Slot = { worker, pid: worker.process.pid ?? 0, ready: false, stopping: false, retiring: false, lastBeat: Date.now() };
  worker.process.stdout?.pipe(output.stdout, { end: false });
  worker.process.stderr?.pipe(output.stderr, { end: false });
  worker.on('message', (message: ToPrimary) => {
    if (message?.ngi === 'beat') slot.lastBeat = Date.now();
    else if (typeof message?.ngi === 'string') onMessage(slot, message);
  });
  // A worker may die before its IPC channel ever opened; 'exit' is the one event always sent.
  worker.once('exit', (code, signal) => {
    clearTimeout(slot.killTimer);
    onExit(slot, code, signal);
  });
  worker.on('error', () => {});
  return slot;
}

/** Tells a worker to stop, and kills it if it has not exited `grace` ms later. */
export function stopWorker(slot: Slot, mode: 'graceful' | 'quick', grace: number): void {
  slot.stopping = true;
  if (slot.worker.process.exitCode !== null || slot.worker.process.signalCode !== null) return;
  try {
    if (slot.worker.isConnected()) slot.worker.send({ ngi: 'stop', mode } satisfies ToWorker);
    else slot.worker.process.kill(mode === 'graceful' ? 'SIGTERM' : 'SIGINT');
  } catch {
    // Its channel just closed: it is exiting already.
  }
  clearTimeout(slot.killTimer);
  // Unref'd: a live worker keeps the primary running anyway; a dead one must not.
  slot.killTimer = setTimeout(() => kill(slot), grace).unref();
}

export function kill(slot: Slot): void {
  if (slot.worker.process.exitCode === null && slot.worker.process.signalCode === null) slot.worker.process.kill('SIGKILL');
}
