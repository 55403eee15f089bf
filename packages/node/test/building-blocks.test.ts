import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runApp, type Application } from '@ngi/core';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeSink, nodeEnviron } from '../src/index.ts';
import { fetchRaw } from '../../../test/conformance/client.ts';

let server: Server | undefined;
afterEach(() => void server?.close());

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(listener);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('nodeEnviron and NodeSink, for framework adapters', () => {
  it('§3.2 §3.4 §4.7 a framework-cut url: SCRIPT_NAME from the mount, raw path from the full target', async () => {
    let seen: Record<string, unknown> = {};
    const app: Application = (environ, startResponse) => {
      seen = { script: environ.SCRIPT_NAME, path: environ.PATH_INFO, raw: environ['ngi.raw_path'], query: environ.QUERY_STRING };
      startResponse('200 OK', [['content-type', 'text/plain']]);
      return ['ok'];
    };
    const url = await listen((req, res) => {
      const full = req.url!;
      req.url = full.slice('/mnt'.length); // as a router trims its mount point
      void runApp(app, nodeEnviron(req, res, { target: full, scriptName: '/mnt' }), new NodeSink(req, res));
    });
    await fetchRaw(url, '/mnt/a%2Fb?q=1');
    expect(seen).toEqual({ script: '/mnt', path: '/a/b', raw: '/mnt/a%2Fb', query: 'q=1' });
  });

  it('§6.3 keeps headers set earlier on res, lets the app replace same-named ones, accumulates cookies', async () => {
    const app: Application = (_environ, startResponse) => {
      startResponse('200 OK', [
        ['content-type', 'application/json'],
        ['set-cookie', 'app1=1'],
        ['set-cookie', 'app2=2'],
      ]);
      return ['{}'];
    };
    const url = await listen((req, res) => {
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('content-type', 'text/html');
      res.setHeader('set-cookie', 'session=s');
      void runApp(app, nodeEnviron(req, res), new NodeSink(req, res));
    });
    const res = await fetchRaw(url, '/');
    expect(res.header('access-control-allow-origin')).toBe('*');
    expect(res.all('content-type')).toEqual(['application/json']);
    expect(res.all('set-cookie')).toEqual(['session=s', 'app1=1', 'app2=2']);
  });

  it('refuses a scriptName the path is not under', async () => {
    let failure = '';
    const url = await listen((req, res) => {
      try {
        nodeEnviron(req, res, { scriptName: '/api' });
      } catch (error) {
        failure = String(error);
      }
      res.end();
    });
    await fetchRaw(url, '/apix');
    expect(failure).toContain('not under the mount prefix');
  });
});
