import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Application } from '@ngi/core';
import { fromNodeListener, serve, type ServeHandle } from '@ngi/node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRaw } from './conformance/client.ts';

/**
 * Random requests through `toNodeListener(fromNodeListener(listener))`, with the full
 * conversion forced, against the same listener on a plain node:http server: the listener
 * must observe the same request, and the client must receive the same response.
 */

interface Plan {
  status: number;
  headers: [string, string][];
  chunks: number[];
}

const seen = new Map<string, unknown>();

async function listener(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of req) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const custom = Object.entries(req.headers).filter(([name]) => name.startsWith('x-') && name !== 'x-id');
  seen.set(req.headers['x-id'] as string, { method: req.method, url: req.url, headers: custom, size, sha: hash.digest('hex') });
  const plan = JSON.parse(Buffer.from(req.headers['x-plan'] as string, 'base64url').toString()) as Plan;
  res.statusCode = plan.status;
  for (const [name, value] of plan.headers) res.appendHeader(name, value);
  for (const [i, length] of plan.chunks.entries()) res.write(Buffer.alloc(length, i + 1));
  res.end();
}

const through = (app: Application): Application => (environ, startResponse) => app(environ, startResponse);

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
const fieldValue = fc.stringMatching(/^[!-~]([ !-~]{0,30}[!-~])?$/);
const segment = fc.string({ unit: fc.constantFrom(...'abcXYZ09-._~!$&\'()*+,;=:@é ✓/?#%'.split('')), maxLength: 8 });
/** Mostly names from a small pool, so that repeated names are common. */
const pooled = <T>(pool: fc.Arbitrary<T>, other: fc.Arbitrary<T>) => fc.oneof({ arbitrary: pool, weight: 2 }, { arbitrary: other, weight: 1 });
const named = (prefix: string) =>
  pooled(fc.constantFrom(`${prefix}a`, `${prefix}b`), token.map((t) => prefix + t)).filter((name) => name !== 'x-id' && name !== 'x-plan');
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
  segments: fc.array(segment, { maxLength: 4 }),
  query: fc.option(fc.array(fc.tuple(pooled(fc.constantFrom('k', 'q'), segment), segment), { maxLength: 4 }), { nil: undefined }),
  headers: fc.array(fc.tuple(named('x-'), fieldValue), { maxLength: 6 }),
  // `size: 'max'`: fast-check's default size keeps arrays to about ten items.
  body: fc.option(fc.uint8Array({ maxLength: 70_000, size: 'max' }), { nil: undefined }),
  /** When set, the body goes out chunked, in pieces of this size. */
  piece: fc.option(fc.integer({ min: 1000, max: 30_000 }), { nil: undefined }),
  plan: fc.record({
    status: fc.constantFrom(200, 201, 202, 400, 404, 418, 500, 503),
    headers: fc.array(fc.tuple(named('x-r-'), fieldValue), { maxLength: 5 }),
    chunks: fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 5 }),
  }),
});

async function* pieces(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('round trip through fromNodeListener, property-based', () => {
  let direct: Server;
  let directUrl: string;
  let bridged: ServeHandle;
  beforeAll(async () => {
    direct = createServer((req, res) => void listener(req, res));
    await new Promise<void>((resolve) => direct.listen(0, '127.0.0.1', resolve));
    directUrl = `http://127.0.0.1:${(direct.address() as AddressInfo).port}`;
    bridged = await serve(through(fromNodeListener(listener)), { port: 0 });
  });
  afterAll(async () => {
    direct.close();
    await bridged.close();
  });

  it('the listener observes the same request, and the client receives the same response', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        // `/?` and `/` are one request to an application: QUERY_STRING is "" for both (§3.5).
        const query = r.query?.length ? '?' + new URLSearchParams(r.query) : '';
        const path = '/' + r.segments.map(encodeURIComponent).join('/') + query;
        const plan = Buffer.from(JSON.stringify(r.plan)).toString('base64url');
        const send = async (base: string, id: string) => {
          const headers: [string, string][] = [...r.headers, ['x-id', id], ['x-plan', plan]];
          const body = r.body && r.piece ? pieces(r.body, r.piece) : r.body;
          const res = await fetchRaw(base, path, { method: r.method, headers, ...(body ? { body } : {}) });
          const kept = res.headers.filter(([name]) => !['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(name));
          return { status: res.status, headers: kept, sha: createHash('sha256').update(res.body).digest('hex'), request: seen.get(id) };
        };
        n++;
        const [a, b] = await Promise.all([send(directUrl, `d${n}`), send(bridged.url, `b${n}`)]);
        expect(b).toEqual(a);
      }),
      { numRuns: 100 },
    );
  });
});
