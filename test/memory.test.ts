import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * 1 GiB each way through `toNodeListener(through(fromNodeListener(listener)))`, the server in
 * its own process: streaming must keep its memory flat whatever the body size.
 */
const GiB = 1024 ** 3;
const LIMIT = 64 * 1024 ** 2;
const CHUNK = 64 * 1024;

/**
 * The server: a plain listener behind the full callable round trip, printing its port. Every
 * write is a fresh buffer, so a bridge that queued the body instead of waiting would hold all
 * of it: queued references to one shared buffer would cost nothing and prove nothing.
 */
const server = `
import { fromNodeListener, serve } from '@ngi/node';

let waits = 0;
let writes = 0;

async function listener(req, res) {
  if (req.url === '/rss') return void res.end(String(process.memoryUsage().rss));
  if (req.url === '/waits') return void res.end(String(waits));
  if (req.url.startsWith('/download/')) {
    let left = Number(req.url.slice('/download/'.length));
    waits = 0;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(left, ${CHUNK})).fill(left & 255);
      left -= chunk.length;
      // Collect now and then, so RSS tracks the buffers still held rather than garbage V8
      // has yet to free (it lets tens of MiB of external memory build up before it does).
      if (++writes % 128 === 0) gc();
      if (!res.write(chunk)) {
        waits++;
        await new Promise((resolve) => res.once('drain', resolve));
      }
    }
    res.end();
  } else {
    let size = 0;
    for await (const chunk of req) {
      if ((size % (8 * 1024 ** 2)) + chunk.length >= 8 * 1024 ** 2) gc();
      // A pause in reading: the bridge must stop taking bytes from the client, not queue them.
      if (size < 128 * 1024 ** 2 && size + chunk.length >= 128 * 1024 ** 2) await new Promise((resolve) => setTimeout(resolve, 1000));
      size += chunk.length;
    }
    res.end(String(size));
  }
}

const through = (app) => (environ, startResponse) => app(environ, startResponse);
const handle = await serve(through(fromNodeListener(listener)), { port: 0 });
console.log(handle.address.port);
`;

describe('memory stays flat through the round trip', () => {
  let child: ChildProcess;
  let port: number;
  beforeAll(async () => {
    // Run from test/, where @ngi/node resolves.
    child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '--eval', server], {
      cwd: import.meta.dirname,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    port = await new Promise<number>((resolve) => child.stdout!.once('data', (data) => resolve(Number(String(data)))));
  });
  afterAll(() => void child.kill());

  const get = (path: string) =>
    new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      }).on('error', reject).end();
    });

  /** Runs `transfer` while sampling the server's RSS; returns the peak growth over the start. */
  async function peakGrowth(transfer: () => Promise<void>): Promise<number> {
    const start = Number(await get('/rss'));
    let peak = start;
    let running = true;
    const sampler = (async () => {
      while (running) {
        peak = Math.max(peak, Number(await get('/rss')));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await transfer();
    running = false;
    await sampler;
    return Math.max(peak, Number(await get('/rss'))) - start;
  }

  it('a 1 GiB streamed response', async () => {
    let received = 0;
    const growth = await peakGrowth(
      () =>
        new Promise((resolve, reject) => {
          request({ host: '127.0.0.1', port, path: `/download/${GiB}`, agent: false }, (res) => {
            res.on('data', (chunk: Buffer) => (received += chunk.length));
            res.on('end', resolve);
          }).on('error', reject).end();
        }),
    );
    console.log(`download: peak RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(received).toBe(GiB);
    expect(growth).toBeLessThan(LIMIT);
    // The listener met backpressure: res.write() returned false and it waited for 'drain'.
    expect(Number(await get('/waits'))).toBeGreaterThan(0);
  }, 120_000);

  it('a 1 GiB upload', async () => {
    let answer = '';
    const growth = await peakGrowth(
      () =>
        new Promise((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, headers: { 'content-length': String(GiB) } }, (res) => {
            res.on('data', (c) => (answer += c));
            res.on('end', resolve);
          });
          req.on('error', reject);
          let sent = 0;
          const pump = (): void => {
            while (sent < GiB) {
              // Fresh bytes each time, as a real upload sends.
              const chunk = Buffer.allocUnsafe(4 * CHUNK).fill(sent & 255);
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once('drain', pump);
            }
            req.end();
          };
          pump();
        }),
    );
    console.log(`upload: peak RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB`);
    expect(Number(answer)).toBe(GiB);
    expect(growth).toBeLessThan(LIMIT);
  }, 120_000);
});
