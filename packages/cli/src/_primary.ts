import type { Writable } from 'node:stream';
import { prepareBinds, removeSockets } from './_binds.ts';
import type { ServeConfig } from './_config.ts';
import { fork, kill, setupCluster, stopWorker, type Slot } from './_fork.ts';
import type { ToPrimary, ToWorker } from './_messages.ts';
import { formatBind } from './_parsers.ts';
import { watchFiles } from './_reload.ts';
import { heartbeat } from './_worker.ts';

/** What the primary talks to. */
export interface PrimaryIo {
  stdout: Writable;
  stderr: Writable;
  /** Install TERM/INT/QUIT/HUP/TTIN/TTOU/USR1 handlers on the process. */
  handleSignals: boolean;
  /** Aborting it stops the server as TERM does. */
  signal: AbortSignal | undefined;
  /** What the banner says is served. */
  label: string;
  version: string;
}

type Mode = 'graceful' | 'quick';

/** A worker not listening yet: its promise, and its deadline (--timeout). */
interface Pending {
  resolve: () => void;
  reject: (message: string) => void;
  deadline?: NodeJS.Timeout;
}

/**
 * The primary process (gunicorn's arbiter): checks the addresses, starts the workers, prints
 * the banner, respawns crashed or blocked workers, replaces them on HUP or `--reload`, has
 * them reopen the access log on USR1, and shuts down on TERM (drain), INT (quick; a second
 * INT forces) or QUIT. Resolves with the exit code.
 */
export async function runPrimary(config: ServeConfig, io: PrimaryIo): Promise<number> {
  config.binds = await prepareBinds(config.binds);
  setupCluster(config, io);
  return new Arbiter(config, io).run();
}

class Arbiter {
  private readonly slots = new Set<Slot>();
  private phase: 'starting' | 'running' | 'stopping' = 'starting';
  private target: number;
  private replacing: Promise<void> = Promise.resolve();
  private interrupts = 0;
  /** Undone when shutting down begins (timers, the file watcher). */
  private readonly duties: (() => void)[] = [];
  /** Undone at the very end (signal handlers: a second INT must still be heard while stopping). */
  private readonly cleanups: (() => void)[] = [];
  private readonly pending = new Map<Slot, Pending>();
  private finish!: (code: number) => void;

  constructor(
    private readonly config: ServeConfig,
    private readonly io: PrimaryIo,
  ) {
    this.target = config.workers;
  }

  async run(): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.finish = (code) => this.cleanup(code, resolve)));
    this.listen();
    // An AbortSignal fires 'abort' once: aborted already (while the binds were checked), it never would.
    if (this.io.signal?.aborted) this.shutdown('graceful');
    if (this.phase === 'stopping') return finished;
    try {
      const spawns = Array.from({ length: this.target }, () => this.spawn());
      // The first failure is reported; the others would otherwise be unhandled rejections.
      for (const spawn of spawns) spawn.catch(() => {});
      await Promise.all(spawns);
    } catch (message) {
      this.say(String(message));
      this.shutdown('quick', 1);
      return finished;
    }
    if (this.phase === 'starting') this.started();
    return finished;
  }

  private started(): void {
    this.phase = 'running';
    const { config, io } = this;
    const workers = `${config.workers} worker${config.workers === 1 ? '' : 's'}`;
    const urls = config.binds.map((bind) => `  listening on ${formatBind(bind)}\n`).join('');
    io.stderr.write(`ngi ${io.version} (pid ${process.pid}): serving ${io.label} with ${workers}\n${urls}`);
    if (config.timeout > 0) {
      const timer = setInterval(() => this.checkHeartbeats(), heartbeat(config.timeout));
      this.duties.push(() => clearInterval(timer));
    }
    if (config.reload) {
      this.duties.push(watchFiles(config.reloadDirs, (file) => {
        this.say(`${file} changed; reloading`);
        this.replace('quick');
      }));
    }
  }

  /** Forks a worker and resolves with it once it listens; rejects with its boot error. */
  private spawn(): Promise<Slot> {
    const slot = fork(this.config, this.io, (s, m) => this.onMessage(s, m), (s, code, signal) => this.onExit(s, code, signal));
    this.slots.add(slot);
    return new Promise((resolve, reject) => this.pending.set(slot, { resolve: () => resolve(slot), reject }));
  }

  /** The worker's start is over: no longer pending, no deadline. */
  private settle(slot: Slot): Pending | undefined {
    const waiting = this.pending.get(slot);
    this.pending.delete(slot);
    clearTimeout(waiting?.deadline);
    return waiting;
  }

  private onMessage(slot: Slot, message: ToPrimary): void {
    if (message.ngi === 'loading') {
      // --timeout bounds loading the application too, as gunicorn's does (a worker that has not
      // booted within it is killed): a module that blocks or awaits forever would otherwise
      // leave HUP and --reload waiting on it for good. It counts from here, not from the fork,
      // so that Node's own start-up is not charged to the application.
      const waiting = this.pending.get(slot);
      if (waiting && this.config.timeout > 0) waiting.deadline = setTimeout(() => this.bootTimedOut(slot), this.config.timeout * 1000).unref();
    } else if (message.ngi === 'ready') {
      const waiting = this.settle(slot);
      slot.ready = true;
      slot.lastBeat = Date.now();
      // Told to stop while it was starting, before it listened for messages: tell it again.
      if (slot.stopping) stopWorker(slot, 'quick', this.grace('quick'));
      if (this.phase === 'running') this.say(`worker ${slot.pid} started`);
      waiting?.resolve();
    } else if (message.ngi === 'boot-error') {
      const waiting = this.settle(slot);
      slot.stopping = true;
      waiting?.reject(message.message);
    } else if (message.ngi === 'closed') {
      slot.worker.send({ ngi: 'bye' } satisfies ToWorker, () => {});
    } else if (message.ngi === 'retire' && !slot.retiring && this.phase === 'running') {
      slot.retiring = true;
      this.say(`worker ${slot.pid} served ${message.served} requests (--max-requests); replacing it`);
      this.replacing = this.replacing.then(async () => void (await this.replaceOne(slot, 'graceful')));
    } else if (message.ngi === 'failing') {
      void this.failing(slot);
    }
  }

  /**
   * A worker had an uncaught exception: its successor starts now, not when it exits. It stops
   * at once if other workers listen; a lone one listens until its successor does, as for HUP:
   * node:cluster closes a port no worker listens on, so new connections would be refused for
   * the whole drain, up to --graceful-timeout.
   */
  private async failing(slot: Slot): Promise<void> {
    // Told to stop already (shutting down tells every worker).
    if (slot.stopping) return;
    slot.failed = true;
    const others = [...this.slots].some((other) => other !== slot && other.ready && !other.stopping);
    if (others) stopWorker(slot, 'graceful', this.grace('graceful'));
    // Its replacement (HUP, --max-requests) is queued or starting already, or it failed before.
    if (slot.retiring) return;
    slot.retiring = true;
    this.say(`worker ${slot.pid} had an uncaught exception; starting a new one`);
    let successor: Slot;
    try {
      successor = await this.spawn();
    } catch (message) {
      this.say(String(message));
      return this.shutdown('graceful', 1);
    }
    if (this.phase === 'stopping') return;
    // Stopped meanwhile by TTOU, which meant one worker fewer: its successor is one too many.
    if (slot.stopping && !others) stopWorker(successor, 'graceful', this.grace('graceful'));
    else if (!slot.stopping) stopWorker(slot, 'graceful', this.grace('graceful'));
  }

  /** A worker still loading the application after --timeout: killed, and its start failed. */
  private bootTimedOut(slot: Slot): void {
    const waiting = this.settle(slot);
    if (!waiting) return;
    slot.stopping = true;
    kill(slot);
    waiting.reject(`worker ${slot.pid} was still loading the application after ${this.config.timeout}s (--timeout); killed it`);
  }

  private onExit(slot: Slot, code: number | null, signal: string | null): void {
    this.slots.delete(slot);
    this.settle(slot)?.reject(`worker ${slot.pid} exited while starting (${signal ?? `code ${code}`})`);
    if (this.phase === 'stopping') {
      if (this.slots.size === 0) this.finish(this.exitCode);
      return;
    }
    // A worker that listened is replaced even while others are still starting: the banner
    // would count it.
    if (slot.stopping || !slot.ready) return;
    // Its replacement (HUP, --max-requests) is queued or starting already: one is enough.
    if (slot.retiring) return this.say(`worker ${slot.pid} died (${signal ?? `code ${code}`}) while being replaced`);
    this.say(`worker ${slot.pid} died (${signal ?? `code ${code}`}); starting a new one`);
    this.spawn().catch((message: string) => {
      this.say(message);
      this.shutdown('graceful', 1);
    });
  }

  private checkHeartbeats(): void {
    const limit = this.config.timeout * 1000;
    for (const slot of this.slots) {
      if (!slot.ready || slot.stopping || Date.now() - slot.lastBeat <= limit) continue;
      this.say(`worker ${slot.pid} timed out (its event loop was blocked for more than ${this.config.timeout}s); killing it`);
      slot.lastBeat = Infinity;
      kill(slot);
    }
  }

  /** Replaces the running workers one at a time: a new one listens before an old one stops. */
  replace(mode: Mode): void {
    this.replacing = this.replacing.then(async () => {
      // The workers running when its turn comes, not when it was asked for: after a replacement
      // that failed (a boot error, a hang past --timeout), the old workers are still the ones
      // to replace; after one that worked, its new workers are.
      const old = [...this.slots].filter((slot) => slot.ready && !slot.stopping && !slot.retiring);
      for (const slot of old) slot.retiring = true;
      for (const [index, slot] of old.entries()) {
        if (await this.replaceOne(slot, mode)) continue;
        for (const kept of old.slice(index)) kept.retiring = false;
        return;
      }
    });
  }

  private async replaceOne(slot: Slot, mode: Mode): Promise<boolean> {
    // A worker that crashed while waiting here was not respawned (see onExit): this starts its
    // successor. One told to stop meanwhile (TTOU) has none.
    if (this.phase !== 'running' || slot.stopping) return true;
    let successor: Slot;
    try {
      successor = await this.spawn();
    } catch (message) {
      slot.retiring = false;
      // As when a crashed worker cannot be respawned: with it gone, there is nothing to keep.
      if (!this.slots.has(slot)) return (this.say(String(message)), this.shutdown('graceful', 1), false);
      this.say(`${String(message)}; keeping the running workers`);
      // But not one that had an uncaught exception meanwhile, which left its stop to this replacement.
      if (slot.failed) void this.failing(slot);
      return false;
    }
    if (this.phase !== 'running') return true;
    // Stopped meanwhile by TTOU, which meant one worker fewer: its successor is one too many.
    if (slot.stopping) stopWorker(successor, 'graceful', this.grace('graceful'));
    else if (this.slots.has(slot)) stopWorker(slot, mode, this.grace(mode));
    return true;
  }

  private exitCode = 0;
  private stopMode: Mode = 'graceful';

  shutdown(mode: Mode, code = 0): void {
    if (this.phase === 'stopping') {
      // INT or QUIT while TERM drains: stop at once rather than wait out --graceful-timeout.
      if (mode === 'quick' && this.stopMode === 'graceful') {
        this.stopMode = 'quick';
        this.say('stopping now');
        for (const slot of this.slots) stopWorker(slot, 'quick', this.grace('quick'));
      }
      return;
    }
    this.phase = 'stopping';
    this.stopMode = mode;
    this.exitCode = code;
    for (const duty of this.duties.splice(0)) duty();
    if (code === 0) this.say(mode === 'graceful' ? 'stopping: finishing the requests in flight' : 'stopping');
    for (const slot of this.slots) stopWorker(slot, mode, this.grace(mode));
    if (this.slots.size === 0) this.finish(code);
  }

  private grace(mode: Mode): number {
    // Bounded as a timer must be (see `seconds`): the 2 s margin must not push it past the limit.
    return mode === 'graceful' ? Math.min(this.config.gracefulTimeout * 1000 + 2000, 2 ** 31 - 1) : 3000;
  }

  private listen(): void {
    const { io } = this;
    const on = (signal: NodeJS.Signals, handler: () => void): void => {
      process.on(signal, handler);
      this.cleanups.push(() => process.off(signal, handler));
    };
    if (io.handleSignals) {
      on('SIGTERM', () => this.shutdown('graceful'));
      on('SIGQUIT', () => this.shutdown('quick'));
      on('SIGINT', () => (++this.interrupts > 1 ? this.force() : this.shutdown('quick')));
      on('SIGHUP', () => this.phase === 'running' && (this.say('HUP: replacing the workers'), this.replace('graceful')));
      on('SIGTTIN', () => this.resize(1));
      on('SIGTTOU', () => this.resize(-1));
      // Node starts its inspector on USR1 unless the signal has a listener: logrotate's
      // `kill -USR1`, written for gunicorn (arbiter.py handle_usr1), must reopen the logs instead.
      on('SIGUSR1', () => this.reopenLogs());
    }
    const stop = (): void => this.shutdown('graceful');
    io.signal?.addEventListener('abort', stop, { once: true });
    this.cleanups.push(() => io.signal?.removeEventListener('abort', stop));
  }

  private resize(by: 1 | -1): void {
    if (this.phase !== 'running') return;
    if (this.target + by < 1) return this.say('TTOU: one worker is the fewest; keeping it');
    this.target += by;
    this.say(`${by > 0 ? 'adding a worker' : 'removing a worker'}: ${this.target} now`);
    if (by > 0) this.spawn().catch((message: string) => this.say(message));
    else {
      const slot = [...this.slots].find((s) => !s.stopping);
      if (slot) stopWorker(slot, 'graceful', this.grace('graceful'));
    }
  }

  private reopenLogs(): void {
    if (this.config.accessLog === null || this.config.accessLog === '-') return;
    this.say('USR1: reopening the access log');
    for (const slot of this.slots) if (slot.worker.isConnected()) slot.worker.send({ ngi: 'reopen' } satisfies ToWorker, () => {});
  }

  private force(): void {
    this.say('forced stop');
    for (const slot of this.slots) kill(slot);
    this.finish(130);
  }

  private cleanup(code: number, resolve: (code: number) => void): void {
    for (const duty of this.duties.splice(0)) duty();
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    removeSockets(this.config.binds);
    resolve(code);
  }

  private say(message: string): void {
    this.io.stderr.write(`ngi: ${message}\n`);
  }
}
