import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseTracker, ECHO } from './fixtures/robust-apps.ts';
import { cases as table, more, type Case, type Outcome } from './fixtures/robust-cases.ts';
import { garbageCases } from './fixtures/robust-garbage.ts';
import { configurations, plainNode, type Configuration } from './fixtures/robust-servers.ts';
import { closing, parseWire, talk, type WireMessage } from './fixtures/wire.ts';

/**
 * Malformed and hostile bytes, over a raw socket, to every configuration that serves through
 * NGI, and to plain Node as the reference. Whatever arrives must be HTTP/1.x with a 3-digit
 * status, bad input a 4xx, an application fault a 5xx or a response cut short, never a 200
 * that looks complete and is not; the server must keep answering, call each body's close()
 * once, and raise no uncaught exception or unhandled rejection (vitest also fails on those).
 */

const cases = [...table, ...more, ...garbageCases];

const faults: unknown[] = [];
const record = (error: unknown) => void faults.push(error);
beforeAll(() => void process.on('uncaughtException', record).on('unhandledRejection', record));
afterAll(() => void process.off('uncaughtException', record).off('unhandledRejection', record));

function outcomes(c: Case, config: Configuration): Outcome[] {
  if (c.native !== undefined && (config.native || (config.handedThrough && c.listenerJudges))) return c.native;
  return typeof c.expect === 'function' ? c.expect(config) : c.expect;
}

/** Every complete 200 is a whole echo (or express.json()'s route) but bodiless ones. */
function checkMessages(messages: WireMessage[], halfClosed = false): void {
  for (const m of messages) {
    // Node ends the connection when the client half-closes, mid-response: a body only the close
    // delimits (HTTP/1.0, 0.9) is then cut with a plain FIN, under plain Node as through NGI.
    if (halfClosed && m.framing === 'close') continue;
    if (m.status !== 200 || !m.complete || m.framing === 'none') continue;
    const text = m.body.toString('latin1');
    if (!text.startsWith('{"keys"') && text !== 'fine') expect(text).toMatch(ECHO);
  }
}

function checkOutcomes(finals: WireMessage[], expected: Outcome[], bytes: number[] | undefined): void {
  const got = finals.map((m): Outcome => (m.complete ? m.status : 'cut'));
  expect(got).toHaveLength(expected.length);
  for (const [i, want] of expected.entries()) {
    if (Array.isArray(want)) expect(want).toContain(got[i]);
    else expect(got[i]).toBe(want);
  }
  if (bytes !== undefined) expect(finals.map((m) => Number(ECHO.exec(m.body.toString('latin1'))?.[1]))).toEqual(bytes);
}

/** A normal request on a new connection gets its whole echo. */
async function checkAnswers(url: string, prefix: string): Promise<void> {
  const [res] = parseWire(await talk(url, `POST ${prefix}/echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nping`));
  expect(res?.status).toBe(200);
  expect(res?.complete).toBe(true);
  expect(res?.body.toString()).toMatch(/^got 4 bytes/);
}

/** Bytes of valid requests for the property to mutate. */
const valid = (p: string) => [
  `GET ${p}/echo HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n`,
  `POST ${p}/echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world`,
  `PUT ${p}/echo?x=%41 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
  `GET ${p}/echo HTTP/1.1\r\nHost: example.com\r\n\r\nPOST ${p}/echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi`,
];

/** A change to a request's bytes; its `toString` shows in a counterexample. */
type Mutation = { (bytes: string): string; toString(): string };
const named = (name: string, apply: (bytes: string) => string): Mutation => Object.assign(apply, { toString: () => name });
const at = (bytes: string, n: number) => n % (bytes.length + 1);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((n) => named(`truncate(${n})`, (b) => b.slice(0, at(b, n)))),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([n, x]) =>
    named(`flip(${n}, ${x})`, (b) => {
      const i = at(b, n) % Math.max(b.length, 1);
      return b.slice(0, i) + String.fromCharCode(b.charCodeAt(i) ^ x) + b.slice(i + 1);
    }),
  ),
  fc.tuple(fc.nat(), fc.constantFrom('\r', '\n', '\0', '\r\n')).map(([n, s]) =>
    named(`insert(${n}, ${JSON.stringify(s)})`, (b) => b.slice(0, at(b, n)) + s + b.slice(at(b, n))),
  ),
  fc.nat().map((n) =>
    named(`repeatLine(${n})`, (b) => {
      const lines = b.split('\r\n');
      const i = 1 + (n % Math.max(lines.length - 1, 1));
      return [...lines.slice(0, i + 1), ...lines.slice(i)].join('\r\n');
    }),
  ),
);

describe.each([plainNode, ...configurations])('$name', (config) => {
  const tracker = new CloseTracker();
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => void (server = await config.start(tracker)));
  afterAll(async () => {
    await server.close();
    expect(tracker.miscounted()).toEqual([]);
  });

  /** The invariants after each exchange: no fault, the server answers, every body closed once. */
  async function checkServer(): Promise<void> {
    expect(faults).toEqual([]);
    await checkAnswers(server.url, config.prefix);
    await tracker.settled();
    expect(tracker.miscounted()).toEqual([]);
  }

  const applicable = cases.filter((c) => c.runs === undefined || c.runs.includes(config.runs));
  it.each(applicable)('$name', async (c) => {
    const expected = outcomes(c, config);
    const talked = await talk(server.url, c.send(config.prefix), { responses: Math.max(expected.length, 1), bodyless: c.bodyless ?? [] });
    const messages = parseWire(talked, c.bodyless);
    checkMessages(messages);
    const interim = messages.filter((m) => m.status < 200);
    const continues = typeof c.continues === 'function' ? c.continues(config) : c.continues;
    if (continues !== undefined) expect(interim.map((m) => m.status)).toEqual(continues ? [100] : []);
    else expect(interim.length).toBeLessThanOrEqual(1);
    checkOutcomes(messages.filter((m) => m.status >= 200), expected, c.bytes);
    await checkServer();
  });

  it('mutated valid requests: truncated, bytes flipped, CR/LF/NUL inserted, headers repeated', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...valid(config.prefix)), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (request, mutations) => {
        const bytes = mutations.reduce((b, m) => m(b), request);
        // The client half-closes: Node then ends the connection once it has answered or refused what came.
        const messages = parseWire(await talk(server.url, closing(bytes)));
        checkMessages(messages, true);
        // Fastify's plugin redirects a path with `//` or dot segments to its normal form (308).
        for (const { status } of messages) expect([100, 200, 308, 505].includes(status) || (status >= 400 && status < 500), `status ${status}`).toBe(true);
        await checkServer();
      }),
      { numRuns: 20 },
    );
  });
});
