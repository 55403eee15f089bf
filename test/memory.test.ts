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

describe('memory stays flat through the round trip', () => {
  let child: ChildProcess;
  let port: number;
  beforeAll(async () => {
    child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', new URL('./fixtures/memory-server.ts', import.meta.url).pathname], {
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
