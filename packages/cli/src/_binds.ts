import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { UsageError } from './_errors.ts';
import { formatBind, type Bind } from './_parsers.ts';

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'not an address of this machine',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
  ENOENT: 'no such directory',
};

/** One line for a failed listen: `cannot listen on http://127.0.0.1:8000: address already in use`. */
export function listenError(bind: Bind, error: unknown): UsageError {
  const code = (error as { code?: string }).code ?? '';
  return new UsageError(`cannot listen on ${formatBind(bind)}: ${REASONS[code] ?? (error as Error).message}`, 1);
}

/**
 * Checks in the primary, before any worker starts, that every address can be listened on,
 * so a port in use is one clear line rather than N failing workers. A TCP port 0 is resolved
 * to a free port here, once, so every worker (and every replacement) shares the same one.
 * A Unix socket file left by a dead server is removed; a live one is an error.
 */
export async function prepareBinds(binds: Bind[]): Promise<Bind[]> {
  // Port 0 twice asks for two ports.
  const named = binds.filter((bind) => bind.kind === 'unix' || bind.port !== 0).map(formatBind);
  const twice = named.find((name, i) => named.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`--bind ${twice} is given twice`);
  const ready: Bind[] = [];
  for (const bind of binds) ready.push(bind.kind === 'tcp' ? await probeTcp(bind) : await probeUnix(bind));
  return ready;
}

function probeTcp(bind: Bind & { kind: 'tcp' }): Promise<Bind> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(listenError(bind, error)));
    server.listen({ host: bind.host, port: bind.port, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve({ ...bind, port }));
    });
  });
}

async function probeUnix(bind: Bind & { kind: 'unix' }): Promise<Bind> {
  // libuv reports a missing directory as EACCES when it binds.
  if (!existsSync(dirname(bind.path))) throw listenError(bind, { code: 'ENOENT' });
  if (!existsSync(bind.path)) return bind;
  if (!lstatSync(bind.path).isSocket()) throw new UsageError(`cannot listen on unix:${bind.path}: the file exists and is not a socket`, 1);
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(bind.path);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
  if (alive) throw listenError(bind, { code: 'EADDRINUSE' });
  unlinkSync(bind.path);
  return bind;
}

/** Removes the Unix socket files this server created, when it stops. */
export function removeSockets(binds: readonly Bind[]): void {
  for (const bind of binds) {
    if (bind.kind !== 'unix') continue;
    try {
      if (lstatSync(bind.path).isSocket()) unlinkSync(bind.path);
    } catch {
      // Already gone.
    }
  }
}
