import { closeSync, openSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';
import { compose, validator, type Application } from '@ngi/core';
import { toNodeListener, type NodeListener } from '@ngi/node';
import { accessLog, answersLogged } from './access-log.ts';
import { errorApplication, errorPage } from './_error-page.ts';
import { oneLine } from './_errors.ts';
import { pipeSized } from './_log-line.ts';
import { forwardedFrom } from './_forwarded.ts';
import type { ServeConfig } from './_config.ts';
import { loadApplication } from './load.ts';
import { listen, type Listening } from './_server.ts';
import type { ToPrimary, ToWorker } from './_messages.ts';
import type { Bind } from './_parsers.ts';

/**
 * A worker process: loads the application, serves it on the shared addresses, beats a heart
 * for `--timeout`, asks to be replaced after `--max-requests`, reopens its access log on USR1,
 * and stops on the primary's word or on its own signals (TERM drains, INT stops quickly, a
 * second INT exits at once).
 */
export async function runWorker(config: ServeConfig): Promise<never> {
  const send = (message: ToPrimary): void => void process.send?.(message);
  let listening: Listening | undefined;
  let stopping: 'graceful' | 'quick' | undefined;
  const log = logWriter(config.accessLog);
  const stop = (mode: 'graceful' | 'quick'): void => {
    if (stopping === 'quick' || stopping === mode) return;
    stopping = mode;
    if (!listening) return exit(log);
    // At --graceful-timeout, what is still running is dropped as by INT, so bodies are closed and
    // signals abort (§9.4, §12.1) before the worker exits, a second later at the latest.
    const force = setTimeout(() => (mode === 'graceful' ? stop('quick') : exit(log)), mode === 'quick' ? 1000 : config.gracefulTimeout * 1000);
    force.unref();
    void listening.stop(mode).then(() => leave(log));
  };
  // An uncaught exception ends the worker with code 1, as it would end Node, after it stops as
  // on TERM (no new connections, the requests in flight finished within --graceful-timeout):
  // connections the primary hands over meanwhile go to another worker, where a worker that
  // died at once would leave them hanging (the primary keeps a connection it handed to a dead
  // worker: nodejs/node-v0.x-archive#7006). The primary says when to stop: at once if other
  // workers listen, else once its successor does, as for HUP. node:cluster closes a port no
  // worker listens on, refusing connections, and one it was handing over then hangs.
  process.on('uncaughtException', (error) => {
    process.stderr.write(`ngi: worker ${process.pid}: uncaught ${inspect(error)}\n`);
    process.exitCode = 1;
    if (listening && !stopping && process.connected) send({ ngi: 'failing' });
    else stop('graceful');
  });
  let interrupts = 0;
  process.on('SIGTERM', () => stop('graceful'));
  process.on('SIGINT', () => (++interrupts > 1 ? exit(log, 130) : stop('quick')));
  process.on('SIGQUIT', () => stop('quick'));
  // HUP, TTIN and TTOU are the primary's to act on; a worker ignores the copies a terminal sends it.
  for (const signal of ['SIGHUP', 'SIGTTIN', 'SIGTTOU'] as const) process.on(signal, () => {});
  // USR1 sent to every process (`systemctl kill -s USR1`) reopens the log here too, as a gunicorn
  // worker does (workers/base.py handle_usr1), rather than start Node's inspector.
  process.on('SIGUSR1', () => log?.reopen?.());
  process.on('message', (message: ToWorker) => {
    if (message?.ngi === 'stop') stop(message.mode);
    else if (message?.ngi === 'bye') exit(log);
    else if (message?.ngi === 'reopen') log?.reopen?.();
  });
  send({ ngi: 'loading' });
  const appFor = await boot(config, send);
  const limit = config.maxRequests > 0 ? config.maxRequests + Math.floor(Math.random() * (config.maxRequestsJitter + 1)) : Infinity;
  let served = 0;
  const options = { multiprocess: config.workers > 1, ...(config.maxBodySize > 0 ? { maxBodySize: config.maxBodySize } : {}) };
  const listeners = new Map<boolean, NodeListener>();
  const listenerFor = (bind: Bind): NodeListener => {
    const overUnix = bind.kind === 'unix';
    let listener = listeners.get(overUnix);
    if (listener === undefined) {
      const app = appFor(overUnix);
      listener = log === undefined ? toNodeListener(app, options) : answersLogged(app, options, { format: config.accessLogFormat, write: log });
      listeners.set(overUnix, listener);
    }
    return listener;
  };
  try {
    listening = await listen(listenerFor, config, () => {
      if (++served === limit) send({ ngi: 'retire', served });
    });
  } catch (error) {
    send({ ngi: 'boot-error', message: oneLine((error as Error).message) });
    return exit(log, 1);
  }
  if (config.timeout > 0) setInterval(() => send({ ngi: 'beat' }), heartbeat(config.timeout)).unref();
  send({ ngi: 'ready', pid: process.pid });
  if (stopping) void listening.stop(stopping).then(() => leave(log));
  return new Promise<never>(() => {});
}

/**
 * Exits once the primary has answered `closed`. Until the primary has handled the closing of
 * this worker's listening handles, it may still hand connections over; a live worker sends
 * them back to be given to another one, a dead one would lose them (the client would hang).
 * Messages are ordered, so the answer comes after any such connection.
 */
function leave(log: Writer | undefined): void {
  if (!process.connected) return exit(log);
  process.send!({ ngi: 'closed' } satisfies ToPrimary);
  setTimeout(() => exit(log), 2000).unref();
}

/** How often a worker reports that its event loop runs, in ms (see MIN_TIMEOUT). */
export function heartbeat(timeout: number): number {
  return Math.max(50, Math.min(1000, (timeout * 1000) / 4));
}

/**
 * The application with the server's middleware around it, for requests over a Unix socket or
 * over TCP; a load failure ends the worker, except under --reload.
 */
async function boot(config: ServeConfig, send: (message: ToPrimary) => void): Promise<(overUnix: boolean) => Application> {
  let app: Application;
  try {
    app = await loadApplication(config.application, {
      ...(config.settingsFile ? { settings: config.settingsFile } : {}),
      factory: config.factory,
      cwd: config.cwd,
    });
    if (config.reload) app = errorPage(validator(app));
  } catch (error) {
    const message = oneLine(error instanceof Error ? error.message : String(error));
    if (!config.reload) {
      send({ ngi: 'boot-error', message });
      return new Promise<never>(() => exit(undefined, 1));
    }
    // While developing, the server stays up and shows the error until the file is fixed.
    process.stderr.write(`ngi: ${message}\n`);
    app = errorApplication(error);
  }
  const write = logWriter(config.accessLog);
  const logging = write === undefined ? [] : [accessLog({ format: config.accessLogFormat, write })];
  return (overUnix) => compose(forwardedFrom(config.forwardedAllowIps, config.forwardedHeaders, overUnix), ...logging)(app);
}

type Writer = ((line: string) => void) & { flush?: () => void; reopen?: () => void };
const writers = new Map<string, Writer>();

/**
 * Access-log lines, gathered within one turn of the event loop and written in one call (to
 * stdout, which the workers share, in whole lines of at most PIPE_BUF bytes a call). Writes
 * are synchronous (a file here; stdout is too, for files and pipes on POSIX), so none
 * is lost at exit.
 */
function logWriter(target: string | null): Writer | undefined {
  if (target === null) return undefined;
  const known = writers.get(target);
  if (known) return known;
  let fd = target === '-' ? undefined : openSync(target, 'a');
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    if (fd === undefined) for (const piece of pipeSized(text)) process.stdout.write(piece);
    else writeSync(fd, text);
  };
  const writer: Writer = (line) => {
    if (pending === '') setImmediate(flush);
    pending += line;
  };
  writer.flush = () => {
    flush();
    if (fd !== undefined) closeSync(fd);
  };
  // The file by its name again: after a rotation, the old descriptor writes to the moved file.
  const reopen = (): void => {
    if (fd === undefined) return;
    flush();
    let reopened: number;
    try {
      reopened = openSync(target, 'a');
    } catch (error) {
      // The old file is still open and written to; a failed rotation must not stop the worker.
      return void process.stderr.write(`ngi: worker ${process.pid}: cannot reopen the access log: ${(error as Error).message}\n`);
    }
    closeSync(fd);
    fd = reopened;
  };
  writer.reopen = reopen;
  writers.set(target, writer);
  return writer;
}

/** Exits with `code`, by default 0, or 1 after an uncaught exception. */
function exit(log: Writer | undefined, code = Number(process.exitCode ?? 0)): never {
  log?.flush?.();
  process.exit(code);
}
