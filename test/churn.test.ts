import type { EventEmitter } from 'node:events';
import { Agent, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { setImmediate as turn } from 'node:timers/promises';
import { fromExpress, toExpress } from '@ngi/express';
import { fastifyNgi } from '@ngi/fastify';
import { fromFetch, toFetch } from '@ngi/fetch';
import { toKoa } from '@ngi/koa';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { quiet, through } from './conformance/helpers.ts';
import { CloseTracker, LARGE, UNREAD, echoText, robustApp } from './fixtures/robust-apps.ts';
import { configurations, expressApp, listen, plainNode, served, type Configuration, type Running } from './fixtures/robust-servers.ts';
import { parseWire, talk, type WireMessage } from './fixtures/wire.ts';

/**
 * Churn: a few hundred requests of mixed kinds on one kept-alive connection, one after another
 * and pipelined, through every configuration. Whatever a request attaches to the server's socket
 * (or to the server) must come off again when it ends, or a long-lived connection grows without
 * bound and Node warns past ten listeners: the counts after the last request are those after the
 * first few. Every response must be right, and every body's close() run once. Then clients that
 * leave mid-response: every connection closes, and every body's close() runs once.
 */

const REQUESTS = 300;
/** Requests before the first look at the socket: every kind has run a few times by then. */
const WARM = 20;
/** Requests written at once on the pipelined connection. */
const BATCH = 10;
const LEAVERS = 30;

/** Configurations the robustness suite leaves out: a callable mounted in Express, the fetch round trip, the direct modes. */
const more: Configuration[] = [
  {
    name: 'callable in Express: use("/ngi", toExpress(callable))',
    prefix: '/ngi',
    runs: 'callable',
    start: (tracker) => listen(express().use('/ngi', toExpress(robustApp(tracker), { errors: quiet }))),
  },
  {
    name: 'toNodeListener(through(fromFetch(toFetch(callable))))',
    prefix: '',
    runs: 'callable',
    ngiServer: true,
    start: (tracker) => served(through(fromFetch(toFetch(robustApp(tracker), { errors: quiet })))),
  },
  {
    name: 'Express app on Koa\'s own req and res: toKoa(fromExpress(app), { direct: true })',
    prefix: '',
    runs: 'express',
    start: () => {
      const koa = new Koa();
      koa.silent = true;
      return listen(koa.use(toKoa(fromExpress(expressApp()), { errors: quiet, direct: true })).callback());
    },
  },
  {
    name: 'Express app on Fastify\'s own req and res: fastifyNgi with { direct: true }',
    prefix: '',
    runs: 'express',
    start: async () => {
      const fastify = Fastify();
      void fastify.register(fastifyNgi, { app: fromExpress(expressApp()), errors: quiet, direct: true });
      await fastify.listen({ port: 0, host: '127.0.0.1' });
      const { port } = fastify.server.address() as AddressInfo;
      return { url: `http://127.0.0.1:${port}`, server: fastify.server, close: () => fastify.close() };
    },
  },
];

/** One kind of request: what it sends, and what it must get back. */
interface Kind {
  method: 'GET' | 'POST';
  path: string;
  /** A string goes with Content-Length; pieces go chunked, one write each. */
  body?: string | string[];
  /** The body follows `Expect: 100-continue`, once the server asks for it. */
  continues?: boolean;
  /** @default 200 */
  status?: number;
  /** The response body; any when not set. */
  expect?: string;
}

const posted = 'x'.repeat(3000);
const kinds: Kind[] = [
  { method: 'GET', path: '/echo', expect: echoText(new Uint8Array()) },
  { method: 'POST', path: '/echo', body: posted, expect: echoText(Buffer.from(posted)) },
  // Small enough for every server to drain after the response (§12.3) and keep the connection.
  { method: 'POST', path: '/unread', body: 'u'.repeat(8000), expect: UNREAD },
  { method: 'GET', path: '/large', expect: LARGE.join('') },
  { method: 'POST', path: '/echo', body: ['chunked ', 'in ', 'three'], expect: echoText(Buffer.from('chunked in three')) },
  { method: 'POST', path: '/echo', body: 'hello', continues: true, expect: echoText(Buffer.from('hello')) },
];

/** An application that fails before its head: a 500, and the connection goes on. */
const failing: Kind = { method: 'GET', path: '/throw', status: 500 };

/** Sends one request through `agent`, reads the whole response. */
function send(agent: Agent, url: string, prefix: string, kind: Kind): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (typeof kind.body === 'string') headers['content-length'] = String(kind.body.length);
    if (kind.continues) headers.expect = '100-continue';
    const req = request(`${url}${prefix}${kind.path}`, { method: kind.method, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const pieces = [kind.body ?? []].flat();
    const end = () => (pieces.forEach((piece) => req.write(piece)), req.end());
    if (kind.continues) req.once('continue', end);
    else end();
  });
}

/** Bytes of `kind` for a raw connection. */
function raw(kind: Kind, prefix: string): string {
  const head = `${kind.method} ${prefix}${kind.path} HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n`;
  if (kind.body === undefined) return `${head}\r\n`;
  if (typeof kind.body === 'string') return `${head}Content-Length: ${kind.body.length}\r\n\r\n${kind.body}`;
  const chunks = kind.body.map((piece) => `${piece.length.toString(16)}\r\n${piece}\r\n`).join('');
  return `${head}Transfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`;
}

/** A raw connection's responses: `next(n)` resolves with the next `n` once they are all complete. */
function responses(socket: Socket): (n: number) => Promise<WireMessage[]> {
  let chunks: Buffer[] = [];
  let wake = (): void => {};
  socket.on('data', (chunk: Buffer) => (chunks.push(chunk), wake())).on('close', () => wake());
  return async (n) => {
    for (;;) {
      const wire = Buffer.concat(chunks);
      chunks = [wire];
      const messages = completeResponses(wire, n);
      if (messages !== undefined) return (chunks = []), messages;
      if (socket.destroyed) throw new Error(`the connection closed with ${n} responses expected: ${JSON.stringify(wire.toString('latin1').slice(0, 500))}`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
}

/** The `n` responses on the wire, if they have all arrived whole. */
function completeResponses(wire: Buffer, n: number): WireMessage[] | undefined {
  try {
    const messages = parseWire({ wire, reset: false });
    return messages.length === n && messages.every((m) => m.complete && m.framing !== 'close') ? messages : undefined;
  } catch {
    return undefined; // a head still arriving
  }
}

/** How many listeners each event has, on whatever lives as long as the connection or longer. */
function listenerCounts(emitter: EventEmitter): Record<string, number> {
  return Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]));
}

/** Waits, a turn of the event loop at a time, for `done`; fails saying `what` if it never comes. */
async function until(done: () => boolean | Promise<boolean>, what: string, turns = 20_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await done()) return;
    await (i < 100 ? turn() : new Promise((resolve) => setTimeout(resolve, 1)));
  }
  throw new Error(`never happened: ${what}`);
}

const connections = (server: Server) => new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

const warnings: Error[] = [];
const warned = (warning: Error) => void warnings.push(warning);
const leakWarnings = () => warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message);
beforeAll(() => void process.on('warning', warned));
afterAll(() => void process.off('warning', warned));
// Each test answers for the warnings raised while it ran.
beforeEach(() => void (warnings.length = 0));

/** What a response got wrong, if anything. */
function wrong(i: number, kind: Kind, status: number, text: string): string[] {
  const right = status === (kind.status ?? 200) && (kind.expect === undefined || text === kind.expect);
  return right ? [] : [`#${i} ${kind.method} ${kind.path}: ${status}, ${text.length} bytes`];
}

describe.each([plainNode, ...configurations, ...more])('$name', (config) => {
  const tracker = new CloseTracker();
  let running: Running;
  let sockets: Socket[] = [];
  /** Responses the server has closed, whatever served them. */
  let closed = 0;
  beforeAll(async () => {
    running = await config.start(tracker);
    running.server.on('connection', (socket: Socket) => void sockets.push(socket));
    running.server.on('request', (_req, res) => void res.once('close', () => closed++));
  });
  afterAll(() => running.close());

  // Plain Node drops the connection of a listener that fails: the reference gets no failure.
  const mix = config.native ? kinds : [...kinds, failing];

  /** The listeners on the connection's socket and on the server, once the server is done with `count` responses. */
  async function settledCounts(count: number) {
    await until(() => closed === count, `the server closing response ${count}`);
    // And past what the close set off.
    await turn();
    await turn();
    return { socket: listenerCounts(sockets[0]!), server: listenerCounts(running.server) };
  }

  /** Every response right, one connection, its listeners as after the first few, no warning, every body closed once. */
  async function check(failures: string[], warm: object | undefined, last: object): Promise<void> {
    expect(failures).toEqual([]);
    expect(sockets).toHaveLength(1);
    expect(last).toEqual(warm);
    expect(leakWarnings()).toEqual([]);
    await tracker.settled();
    expect(tracker.miscounted()).toEqual([]);
  }

  it(`${REQUESTS} requests one after another on one kept-alive connection`, async () => {
    sockets = [];
    const base = closed;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const failures: string[] = [];
    let warm: object | undefined;
    let last: object | undefined;
    try {
      for (let i = 0; i < REQUESTS; i++) {
        const kind = mix[i % mix.length]!;
        const { status, text } = await send(agent, running.url, config.prefix, kind);
        failures.push(...wrong(i, kind, status, text));
        if (i + 1 === WARM) warm = await settledCounts(base + WARM);
      }
      last = await settledCounts(base + REQUESTS);
    } finally {
      agent.destroy();
    }
    await check(failures, warm, last);
  });

  it(`${REQUESTS} requests pipelined ${BATCH} at a time on one connection`, async () => {
    sockets = [];
    const base = closed;
    const { hostname, port } = new URL(running.url);
    const socket = connect(Number(port), hostname);
    const next = responses(socket);
    // Expect: 100-continue needs the client to wait: not pipelined.
    const pipelined = mix.filter((kind) => !kind.continues);
    const failures: string[] = [];
    let warm: object | undefined;
    let last: object | undefined;
    try {
      for (let i = 0; i < REQUESTS; i += BATCH) {
        const batch = Array.from({ length: BATCH }, (_, j) => pipelined[(i + j) % pipelined.length]!);
        socket.write(batch.map((kind) => raw(kind, config.prefix)).join(''), 'latin1');
        for (const [j, m] of (await next(BATCH)).entries()) failures.push(...wrong(i + j, batch[j]!, m.status, m.body.toString('latin1')));
        if (i + BATCH === WARM) warm = await settledCounts(base + WARM);
      }
      last = await settledCounts(base + REQUESTS);
    } finally {
      socket.destroy();
    }
    await check(failures, warm, last);
  });

  it(`${LEAVERS} clients leaving mid-response: every connection closes, every body closes once`, async () => {
    await Promise.all(
      Array.from({ length: LEAVERS }, () =>
        talk(running.url, async (socket, arrived) => {
          socket.write(`GET ${config.prefix}/endless HTTP/1.1\r\nHost: example.com\r\n\r\n`);
          await arrived('tick');
          socket.destroy();
        }),
      ),
    );
    await until(async () => (await connections(running.server)) === 0, 'every connection closing');
    await tracker.settled();
    expect(tracker.miscounted()).toEqual([]);
    if (config.runs === 'callable') expect(tracker.calls.filter((c) => c.path === '/endless')).toHaveLength(LEAVERS);
    expect(leakWarnings()).toEqual([]);
  });
});
