import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { get, serving, signalGroup, stopAll, tempDir } from './_helpers.ts';

afterAll(stopAll);

/** A streaming GET: resolves `head` when the status line arrives and `done` with the whole body (or the error). */
function streaming(url: string) {
  let onHead!: () => void;
  const head = new Promise<void>((resolve) => (onHead = resolve));
  const done = new Promise<{ status: number; body: string } | Error>((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      onHead();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', resolve);
      res.on('aborted', () => resolve(new Error('aborted')));
    });
    req.on('error', resolve);
    req.end();
  });
  return { head, done };
}

/** The processes whose parent is `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …: the command name may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('signals', () => {
  it('TERM lets every request in flight finish, refuses new connections, then exits 0', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off']);
    const requests = Array.from({ length: 30 }, () => streaming(`${server.url}/slow?n=8&ms=100`));
    await Promise.all(requests.map((r) => r.head));
    server.child.kill('SIGTERM');
    await server.waitFor(/stopping: finishing the requests in flight/);
    await expect(get(`${server.url}/pid`)).rejects.toThrow(/ECONNREFUSED|ECONNRESET/);
    const results = await Promise.all(requests.map((r) => r.done));
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
    expect(new Set(results.map((r) => JSON.stringify(r)))).toEqual(new Set([JSON.stringify({ status: 200, body: '0\n1\n2\n3\n4\n5\n6\n7\ndone\n' })]));
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('TERM lets a response given whole go out whole to a client still reading it slowly', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off']);
    const client = connect(Number(new URL(server.url).port), '127.0.0.1', () => client.write('GET /big?mb=8 HTTP/1.1\r\nHost: x\r\n\r\n'));
    // Nothing read until the server is stopping: most of the body is still queued in the worker.
    client.pause();
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    const ended = new Promise((resolve) => client.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    await server.waitFor(/stopping: finishing the requests in flight/);
    client.resume();
    await ended;
    expect(received).toBeGreaterThan(8 * 1024 * 1024);
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('§9.4 §12.1 --graceful-timeout: TERM stops waiting for a request that outlasts it, closing its body and aborting its signal', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--graceful-timeout', '0.5', '--access-log', 'off']);
    const log = join(tempDir(), 'ended.log');
    const endless = streaming(`${server.url}/slow?n=1000&ms=100&log=${encodeURIComponent(log)}`);
    await endless.head;
    const started = Date.now();
    server.child.kill('SIGTERM');
    expect(await endless.done).toBeInstanceOf(Error);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(3000);
    // Dropped before the worker exits, not cut off by its exit.
    expect(existsSync(log) ? readFileSync(log, 'utf8') : '(nothing)').toBe('abort\nclose\n');
  });

  it('TERM does not wait out --graceful-timeout for a connection that never sent a request (a preconnect)', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--graceful-timeout', '60', '--access-log', 'off']);
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    await get(`${server.url}/pid`); // the worker has taken the idle connection by now
    server.child.kill('SIGTERM');
    const outcome = await Promise.race([server.exited, new Promise((r) => setTimeout(r, 10_000, 'still running after 10 s'))]);
    socket.destroy();
    expect(outcome).toEqual({ code: 0, signal: null });
  });

  it('TERM does not wait out --graceful-timeout for a connection only draining a body the application left unread', async () => {
    // A long keep-alive, so that only the stop closes the connection.
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--graceful-timeout', '20', '--keep-alive', '60', '--access-log', 'off']);
    const { port } = new URL(server.url);
    // 100 of 100,000 bytes, then nothing more: the drain after the answer would wait for the rest.
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(`POST /upload-ignored HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(100)}`));
    socket.on('error', () => {});
    let received = '';
    await new Promise<void>((resolve) => socket.on('data', (chunk) => (received += chunk).includes('hello /upload-ignored') && resolve()));
    server.child.kill('SIGTERM');
    const outcome = await Promise.race([server.exited, new Promise((r) => setTimeout(r, 10_000, 'still running after 10 s'))]);
    socket.destroy();
    expect(outcome).toEqual({ code: 0, signal: null });
  });

  it('INT (Ctrl-C, to the whole process group) stops at once, dropping what is in flight', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off']);
    const inFlight = streaming(`${server.url}/slow?n=100&ms=100`);
    await inFlight.head;
    const started = Date.now();
    signalGroup(server, 'SIGINT');
    expect(await inFlight.done).toBeInstanceOf(Error);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('INT to the primary while TERM drains stops at once instead of waiting for --graceful-timeout', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off']);
    const endless = streaming(`${server.url}/slow?n=1000&ms=100`);
    await endless.head;
    server.child.kill('SIGTERM');
    await server.waitFor(/stopping: finishing the requests in flight/);
    const started = Date.now();
    server.child.kill('SIGINT');
    expect(await endless.done).toBeInstanceOf(Error);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('a second INT forces the exit when a worker does not stop', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--timeout', '0', '--access-log', 'off']);
    const pid = Number((await get(`${server.url}/pid`)).body);
    const blocked = get(`${server.url}/block?ms=20000`).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    signalGroup(server, 'SIGINT');
    await server.waitFor(/ngi: stopping\n/);
    const second = Date.now();
    signalGroup(server, 'SIGINT');
    expect(await server.exited).toEqual({ code: 130, signal: null });
    expect(Date.now() - second).toBeLessThan(1000);
    expect(server.stderr()).toContain('ngi: forced stop');
    expect(await blocked).toBeInstanceOf(Error);
    await expect.poll(() => alive(pid), { timeout: 2000 }).toBe(false);
  });

  it('USR1 reopens the access log (after logrotate moved it) instead of starting the inspector', async () => {
    const log = join(tempDir(), 'access.log');
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', log, '--access-log-format', '%(U)s']);
    await get(`${server.url}/before`);
    await expect.poll(() => existsSync(log) && readFileSync(log, 'utf8')).toBe('/before\n');
    renameSync(log, `${log}.1`);
    server.child.kill('SIGUSR1');
    await server.waitFor(/USR1: reopening the access log/);
    // As `systemctl kill -s USR1` does, to every process: a worker must not start one either.
    signalGroup(server, 'SIGUSR1');
    await expect.poll(async () => {
      await get(`${server.url}/after`);
      return existsSync(log) && readFileSync(log, 'utf8').includes('/after\n');
    }, { timeout: 5000 }).toBe(true);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('/before\n');
    expect(server.stderr()).not.toContain('Debugger listening');
    expect((await get(`${server.url}/pid`)).status).toBe(200);
  });

  it('HUP replaces the workers one by one without a failed request', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off']);
    const before = new Set<string>();
    for (let i = 0; i < 20 && before.size < 2; i++) before.add((await get(`${server.url}/pid`)).body);
    let running = true;
    const failures: string[] = [];
    const seen = new Set<string>();
    let served = 0;
    const client = async (): Promise<void> => {
      while (running) {
        try {
          const res = await get(`${server.url}/pid`);
          if (res.status !== 200) failures.push(`status ${res.status}`);
          seen.add(res.body);
          served++;
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const clients = Array.from({ length: 4 }, client);
    server.child.kill('SIGHUP');
    await server.waitFor(/HUP[^]*worker \d+ started[^]*worker \d+ started/);
    const after = new Set<string>();
    await expect.poll(async () => {
      after.add((await get(`${server.url}/pid`)).body);
      return [...before].some((pid) => alive(Number(pid)));
    }, { timeout: 5000 }).toBe(false);
    running = false;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(20);
    for (const pid of after) expect(before.has(pid)).toBe(false);
    expect([...seen].filter((pid) => !before.has(pid)).length).toBeGreaterThanOrEqual(1);
  });

  it('a worker that dies while the others are still starting is replaced', async () => {
    const mark = join(tempDir(), 'first');
    const server = await serving(['staggered.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off'], { env: { STAGGER_MARK: mark } });
    await server.waitFor(/died \(code 3\); starting a new one[^]*worker \d+ started/, 10_000);
    expect((await get(server.url)).status).toBe(200);
  });

  it('TTOU while HUP replaces the workers leaves one worker fewer, not the same number', async () => {
    const server = await serving(['slow-start.ts', '--bind', '127.0.0.1:0', '--workers', '2', '--access-log', 'off']);
    const primary = server.child.pid!;
    await expect.poll(() => childrenOf(primary).length, { timeout: 10_000 }).toBe(2);
    server.child.kill('SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTTOU');
    await server.waitFor(/removing a worker: 1 now[^]*worker \d+ started[^]*worker \d+ started/, 20_000);
    // The workers told to stop exit within moments; without the fix two stay.
    await expect.poll(() => childrenOf(primary).length, { timeout: 10_000 }).toBe(1);
    expect((await get(server.url)).status).toBe(200);
    // One worker is the fewest: a TTOU then says so, where it did nothing without a word.
    server.child.kill('SIGTTOU');
    await server.waitFor(/TTOU: one worker is the fewest; keeping it/, 5000);
    expect(childrenOf(primary)).toHaveLength(1);
  });

  it('a worker that crashes while its --max-requests replacement starts is replaced once, not twice', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--max-requests', '2', '--access-log', 'off']);
    await get(`${server.url}/pid`);
    // The second request makes it retire, then it crashes before its replacement listens.
    await get(`${server.url}/crash`);
    await server.waitFor(/replacing it[^]*worker \d+ started/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(server.stderr().match(/worker \d+ started/g)).toHaveLength(1);
    expect(server.stderr()).not.toContain('starting a new one');
    expect((await get(`${server.url}/pid`)).status).toBe(200);
  });

  it('--max-requests with --max-requests-jitter replaces a worker after 5 to 8 requests, without a failed request', async () => {
    const log = join(tempDir(), 'access.log');
    const server = await serving([
      'app.ts', '--bind', '127.0.0.1:0', '--max-requests', '5', '--max-requests-jitter', '3',
      '--access-log', log, '--access-log-format', '%(s)s %(U)s %(p)s',
    ]);
    const pids: string[] = [];
    for (let i = 0; i < 40; i++) {
      pids.push((await get(`${server.url}/pid`)).body);
      if (i === 10) await server.waitFor(/worker \d+ started/);
    }
    const [, first, served] = (await server.waitFor(/worker (\d+) served (\d+) requests \(--max-requests\); replacing it/))!;
    expect(Number(served)).toBeGreaterThanOrEqual(5);
    expect(Number(served)).toBeLessThanOrEqual(8);
    expect(pids[0]).toBe(first);
    expect(new Set(pids).size).toBeGreaterThanOrEqual(2);
    // --access-log FILE with --access-log-format: every request, from every worker, in the file.
    server.child.kill('SIGTERM');
    await server.exited;
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(40);
    expect(lines.every((line) => /^200 \/pid <\d+>$/.test(line))).toBe(true);
    expect(server.stdout()).toBe('');
  });
});
