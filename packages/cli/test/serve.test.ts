import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, get, ngi, serving, stopAll, tempDir, type Ngi } from './_helpers.ts';

afterAll(stopAll);

describe('ngi serve: one server with two workers', () => {
  let server: Ngi & { url: string };
  let socket: string;

  beforeAll(async () => {
    socket = join(tempDir(), 'ngi.sock');
    server = await serving([
      'app.ts', '--bind', '127.0.0.1:0', '--bind', `unix:${socket}`, '--workers', '2', '--timeout', '1',
      // 0.5005 s is 500.49999999999994 ms, which Node refuses where it wants an integer.
      '--max-header-size', '2k', '--max-body-size', '1k', '--request-timeout', '1', '--keep-alive', '0.5005',
      '--forwarded-allow-ips', '127.0.0.1',
    ]);
  });

  it('prints a banner with every URL and serves the application on each', async () => {
    expect(server.stderr()).toMatch(/^ngi \d+\.\d+\.\d+ \(pid \d+\): serving app\.ts with 2 workers\n/);
    expect(server.stderr()).toContain(`listening on unix:${socket}`);
    expect((await get(`${server.url}/x`)).body).toBe('hello /x\n');
    expect((await get('http://localhost/y', { socketPath: socket })).body).toBe('hello /y\n');
  });

  it('writes an access log line in the combined format to stdout', async () => {
    await get(`${server.url}/logged?q=1`, { headers: { referer: 'http://ref.example/', 'user-agent': 'tester "1"' } });
    const [line] = await server.waitFor(/^.*\/logged.*$/m, 5000, 'stdout');
    expect(line).toMatch(/^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET \/logged\?q=1 HTTP\/1\.1" 200 14 "http:\/\/ref\.example\/" "tester \\"1\\""$/);
  });

  it('spreads requests over the workers, which are other processes', async () => {
    const pids = new Set<string>();
    for (let i = 0; i < 20 && pids.size < 2; i++) pids.add((await get(`${server.url}/pid`)).body);
    expect(pids.size).toBe(2);
    expect(pids.has(String(server.child.pid))).toBe(false);
  });

  it('respawns a worker that crashed, and keeps serving', async () => {
    await get(`${server.url}/crash`).catch(() => undefined);
    const [, dead] = await server.waitFor(/worker (\d+) had an uncaught exception; starting a new one/);
    await server.waitFor(/worker \d+ started/);
    const pids = new Set<string>();
    for (let i = 0; i < 30; i++) pids.add((await get(`${server.url}/pid`)).body);
    expect(pids.has(dead!)).toBe(false);
    expect(pids.size).toBe(2);
  });

  it('a worker that crashes hands the connections it had not taken yet to another worker, none left hanging', async () => {
    const started = (): number => server.stderr().match(/worker \d+ started/g)?.length ?? 0;
    const before = started();
    await get(`${server.url}/crash?ms=300`);
    // Fresh connections while it is busy: about half are handed to it before it crashes.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        get(`${server.url}/pid`, { timeout: 5000 }).then(
          (res) => String(res.status),
          (error: Error) => error.message,
        ),
      ),
    );
    expect(answers).toEqual(Array(20).fill('200'));
    await expect.poll(started, { timeout: 10_000 }).toBeGreaterThan(before);
  });

  it('--timeout kills a worker whose event loop is blocked, and replaces it', async () => {
    const started = Date.now();
    const blocked = await get(`${server.url}/block?ms=5000`).then(() => 'answered', () => 'dropped');
    expect(blocked).toBe('dropped');
    expect(Date.now() - started).toBeLessThan(4500);
    const [, killed] = await server.waitFor(/worker (\d+) timed out \(its event loop was blocked for more than 1s\); killing it/);
    // The replacement starts once the primary has seen the old worker exit.
    await server.waitFor(new RegExp(`timed out[^]*worker (?!${killed})\\d+ started`));
    expect((await get(`${server.url}/after-block`)).status).toBe(200);
  });

  it('--max-header-size answers 431 to a larger head', async () => {
    const res = await get(`${server.url}/`, { headers: { 'x-big': 'a'.repeat(4096) } });
    expect(res.status).toBe(431);
  });

  it('--max-body-size answers 413 to a larger body, without calling the application (§4.3)', async () => {
    const status = await new Promise<string>((resolve) => {
      const client = connect(Number(new URL(server.url).port), '127.0.0.1', () => {
        client.end(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n${'a'.repeat(2048)}`);
      });
      let data = '';
      client.on('data', (chunk) => (data += chunk));
      client.on('close', () => resolve(data.split('\r\n')[0]!));
    });
    expect(status).toMatch(/^HTTP\/1\.1 413 /);
    const small = await fetch(`${server.url}/upload`, { method: 'POST', body: 'a'.repeat(1000) });
    expect(await small.text()).toBe('1000 bytes');
  });

  it('logs the requests the server answers before the application runs, as gunicorn does', async () => {
    const tooBig = await new Promise<string>((resolve) => {
      const client = connect(Number(new URL(server.url).port), '127.0.0.1', () => {
        client.end(`POST /too-big?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: big\r\nContent-Length: 2048\r\n\r\n${'a'.repeat(2048)}`);
      });
      let data = '';
      client.on('data', (chunk) => (data += chunk));
      client.on('close', () => resolve(data.split('\r\n')[0]!));
    });
    expect(tooBig).toMatch(/^HTTP\/1\.1 413 /);
    const [line] = await server.waitFor(/^.*\/too-big.*$/m, 5000, 'stdout');
    expect(line).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "POST \/too-big\?x=1 HTTP\/1\.1" 413 - "-" "big"$/);
    expect((await get(`${server.url}/bad%zz`)).status).toBe(400);
    await server.waitFor(/"GET \/bad%zz HTTP\/1\.1" 400 - "-" "-"$/m, 5000, 'stdout');
  });

  it('--request-timeout answers 408 to a request that does not arrive in time', async () => {
    const started = Date.now();
    const reply = await unfinishedRequest(server.url);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('--keep-alive closes an idle connection after that long', async () => {
    const closedAfter = await new Promise<number>((resolve) => {
      const client = connect(Number(new URL(server.url).port), '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let answered = 0;
      client.on('data', () => (answered ||= Date.now()));
      client.on('close', () => resolve(Date.now() - answered));
    });
    expect(closedAfter).toBeGreaterThanOrEqual(300);
    expect(closedAfter).toBeLessThan(2500);
  });

  it('--forwarded-allow-ips: X-Forwarded-For/Proto from an allowed proxy become REMOTE_ADDR and the scheme', async () => {
    const res = await get(`${server.url}/peer`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } });
    expect(res.body).toBe('203.0.113.7 https');
  });

  it('--forwarded-allow-ips: the same headers from a peer not allowed (here, the Unix socket) are ignored', async () => {
    const res = await get('http://localhost/peer', { socketPath: socket, headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } });
    expect(res.body).toBe('- http');
  });
});

describe('ngi serve: --forwarded-allow-ips unix, on a Unix socket and a TCP address', () => {
  it('a TCP client that resets its connection at once, leaving Node without its address, is not taken for the Unix socket', async () => {
    const socket = join(tempDir(), 'ngi.sock');
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--bind', `unix:${socket}`, '--forwarded-allow-ips', 'unix']);
    const viaSocket = await get('http://localhost/peer', { socketPath: socket, headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' } });
    expect(viaSocket.body).toBe('203.0.113.7 https');
    const port = Number(new URL(server.url).port);
    for (let i = 0; i < 10; i++) {
      const client = connect(port, '127.0.0.1', () => {
        const head = `POST /reset-${i} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nContent-Length: 0\r\n\r\n`;
        client.write(head, () => client.resetAndDestroy());
      });
      client.on('error', () => {});
    }
    await server.waitFor(/reset-9 /, 5000, 'stdout');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const peers = server.stdout().split('\n').filter((line) => line.includes('/reset-')).map((line) => line.split(' ')[0]);
    expect(peers.length).toBeGreaterThan(0);
    expect(peers.filter((peer) => peer !== '127.0.0.1' && peer !== '-')).toEqual([]);
  });
});

describe('ngi serve: a lone worker that crashes', () => {
  it('serves until its successor listens, which starts at once, not after its drain: the port never closes', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--access-log', 'off']);
    const crashed = (await get(`${server.url}/pid`)).body;
    let draining = true;
    const slow = get(`${server.url}/slow?n=40&ms=100`).finally(() => (draining = false));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await get(`${server.url}/crash`);
    // node:cluster closes a port no worker listens on: a fresh connection would be refused.
    const answers: string[] = [];
    do answers.push(await get(`${server.url}/pid`, { timeout: 2000 }).then((res) => res.body, (error: Error) => error.message));
    while (answers.at(-1) === crashed);
    expect(answers.at(-1)).toMatch(/^\d+$/);
    expect(draining).toBe(true);
    expect(await slow).toMatchObject({ status: 200, body: expect.stringMatching(/39\ndone\n$/) });
    expect(server.stderr()).toContain(`worker ${crashed} had an uncaught exception; starting a new one\n`);
  });
});

describe('ngi serve: --request-timeout with decimals', () => {
  it('starts (Node takes whole milliseconds only) and answers 408 after that long', async () => {
    const server = await serving(['app.ts', '--bind', '127.0.0.1:0', '--request-timeout', '0.35', '--access-log', 'off']);
    expect((await get(`${server.url}/x`)).body).toBe('hello /x\n');
    const started = Date.now();
    const reply = await unfinishedRequest(server.url);
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('ngi serve: an Express app', () => {
  it('gets requests and responses made with the prototypes it carries (app.request, app.response)', async () => {
    const server = await serving(['express-like.ts', '--bind', '127.0.0.1:0']);
    expect((await get(`${server.url}/`)).body).toBe('made with its prototypes');
  });
});

describe('ngi serve: startup errors are one line and a non-zero exit', () => {
  const cases: [string, string[], RegExp][] = [
    ['module not found', ['nope.ts'], /^ngi: module not found: nope\.ts \(looked in .*fixtures\)$/],
    ['export missing', ['no-export.ts'], /^ngi: no-export\.ts has no export "application" and no default export \(its exports: more, other\)$/],
    ['named export missing', ['app.ts:missing'], /^ngi: app\.ts has no export "missing" \(its exports: application\)$/],
    ['export not callable', ['not-callable.ts'], /^ngi: not-callable\.ts:application is not a function \(it is an object with handler\)/],
    ['TypeScript syntax error, with its location', ['broken.mts'], /^ngi: syntax error at broken\.mts:2:13: Expected "]" but found "2"$/],
    ['JavaScript syntax error, with its location', ['syntax-error.mjs'], /^ngi: syntax error at syntax-error\.mjs:2:46: Unexpected number$/],
    ['CommonJS syntax error, with its location', ['commonjs/syntax-error.cjs'], /^ngi: syntax error at commonjs\/syntax-error\.cjs:2:42: Unexpected identifier 'startResponse'$/],
    ['error thrown while loading', ['throws.ts'], /^ngi: error while loading throws\.ts: TypeError: the database is not configured \(at throws\.ts:2:7\)$/],
    ['--factory: a factory returning something else', ['factory.ts:notAFactory', '--factory'], /^ngi: the factory factory\.ts:notAFactory\(\) returned a number, not an application function$/],
    ['--factory: a factory that throws', ['app.ts', '--factory'], /^ngi: the factory app\.ts:application\(\) threw TypeError: Cannot read properties of undefined/],
  ];

  it('--check of a module that listens itself (a legacy app.listen()) says so and exits', async () => {
    const run = ngi(['serve', 'listens.ts', '--check']);
    const { code } = await run.exited;
    expect([code, run.stderr()]).toEqual([1, 'ngi: listens.ts started a server of its own while loading (app.listen() at its top level?): export the application and let ngi serve listen\n']);
  });

  it.each(cases)('%s', async (_name, args, message) => {
    const run = ngi(['serve', ...args, '--bind', '127.0.0.1:0']);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toMatch(new RegExp(message.source, 'm'));
    expect(run.stderr().trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([
    ['awaits forever', 'await new Promise(() => {});'],
    ['blocks its event loop', 'while (true);'],
  ])('a module that %s while loading: the worker is killed after --timeout', async (_name, code) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'hang.mjs'), `${code}\nexport const application = () => [];\n`);
    const run = ngi(['serve', 'hang.mjs', '--bind', '127.0.0.1:0', '--timeout', '0.5'], { cwd: dir });
    await run.waitFor(/^ngi: worker \d+ was still loading the application after 0\.5s \(--timeout\); killed it$/m, 5000);
    expect((await run.exited).code).toBe(1);
  });

  it('port in use', async () => {
    const first = await serving(['app.ts', '--bind', '127.0.0.1:0']);
    const run = ngi(['serve', 'app.ts', '--bind', new URL(first.url).host]);
    expect((await run.exited).code).toBe(1);
    expect(run.stderr()).toBe(`ngi: cannot listen on ${first.url}: address already in use\n`);
  });

  it('a Unix socket in a directory that does not exist, and an address given twice', async () => {
    const socket = join(tempDir(), 'missing', 'ngi.sock');
    const missing = ngi(['serve', 'app.ts', '--bind', `unix:${socket}`]);
    expect((await missing.exited).code).toBe(1);
    expect(missing.stderr()).toBe(`ngi: cannot listen on unix:${socket}: no such directory\n`);
    const twice = ngi(['serve', 'app.ts', '--bind', '127.0.0.1:8123', '--bind', '127.0.0.1:8123']);
    expect((await twice.exited).code).toBe(2);
    expect(twice.stderr()).toBe('ngi: --bind http://127.0.0.1:8123 is given twice\n');
  });

  it('a --reload-dir that is not a directory', async () => {
    const run = ngi(['serve', 'app.ts', '--bind', '127.0.0.1:0', '--reload', '--reload-dir', 'nowhere']);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr()).toBe(`ngi: --reload-dir ${join(fixtures, 'nowhere')} is not a directory\n`);
  });
});

/** Sends a request head that never ends; resolves with what the server answers before it closes the connection. */
function unfinishedRequest(url: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const client = connect(Number(new URL(url).port), '127.0.0.1', () => client.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    let data = '';
    client.on('data', (chunk) => (data += chunk));
    client.on('close', () => resolve(data));
  });
}
