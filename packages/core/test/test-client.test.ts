import { describe, expect, it } from 'vitest';
import { request, stream, type Application } from '../src/index.ts';

const json: Application = (environ, startResponse) => {
  startResponse('201 Created', [['content-type', 'application/json'], ['X-Trace', 'abc']]);
  return [JSON.stringify({ method: environ.REQUEST_METHOD, path: environ.PATH_INFO, query: environ.QUERY_STRING })];
};

describe('the test client', () => {
  it('returns status, headers, text and json', async () => {
    const res = await request(json, { method: 'PUT', url: '/items/1?x=y' });
    expect([res.status, res.statusText]).toEqual([201, 'Created']);
    expect(res.header('x-trace')).toBe('abc');
    expect(res.json()).toEqual({ method: 'PUT', path: '/items/1', query: 'x=y' });
  });

  it('runs the validator by default', async () => {
    const bad: Application = (_e, startResponse) => (startResponse('200 OK', [['Connection', 'close']]), []);
    const res = await request(bad);
    expect(res.status).toBe(500);
    expect(res.errors.join('\n')).toContain('§6.3');
  });

  it('streams chunks as the app produces them, and breaking out aborts ngi.signal', async () => {
    let signal!: AbortSignal;
    let produced = 0;
    const app: Application = async function* (environ, startResponse) {
      signal = environ['ngi.signal'];
      startResponse('200 OK', [['content-type', 'text/plain']]);
      for (;;) {
        produced++;
        yield `tick ${produced}`;
      }
    };
    const res = await stream(app);
    const seen: string[] = [];
    for await (const chunk of res.body) {
      seen.push(new TextDecoder().decode(chunk));
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(['tick 1', 'tick 2', 'tick 3']);
    expect(produced).toBeLessThanOrEqual(4);
    expect(signal.aborted).toBe(true);
  });

  it('rejects when the response is abandoned after the head (§11.2)', async () => {
    const app: Application = async function* (_e, startResponse) {
      startResponse('200 OK', [['content-type', 'text/plain']]);
      yield 'partial';
      throw new Error('broken');
    };
    await expect(request(app)).rejects.toThrow('abandoned');
  });
});
