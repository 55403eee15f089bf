import { createHash } from 'node:crypto';
import { mount, type Application, type Environ, type HeaderList } from '@ngi/core';

/**
 * The one application every conformance configuration serves. Each adapter pair wraps
 * it its own way (a callable served directly, a callable turned into a Node listener
 * and back, an Express app around it…), so every behaviour is written once.
 */

/** Per-request bookkeeping the tests read back through `/stats/:id`. */
const stats = new Map<string, { closed: number; aborted: boolean; finished: boolean }>();
/** What reading `ngi.input` after the response gave, per request: `/late/:id` reads it back. */
const lateReads = new Map<string, string>();
/** Gates a streaming route waits on until the test calls `/release/:id`. */
const gates = new Map<string, () => void>();

function gate(id: string): Promise<void> {
  return new Promise((resolve) => gates.set(id, resolve));
}

const text = (status: string, body: string, headers: HeaderList = []): Application => (_e, startResponse) => {
  startResponse(status, [['content-type', 'text/plain; charset=utf-8'], ['content-length', String(Buffer.byteLength(body))], ...headers]);
  return [body];
};

function json(startResponse: Parameters<Application>[1], value: unknown) {
  const body = JSON.stringify(value);
  startResponse('200 OK', [['content-type', 'application/json'], ['content-length', String(Buffer.byteLength(body))]]);
  return [body];
}

function describeEnviron(environ: Environ) {
  const headers: Record<string, string> = {};
  for (const key in environ) if (key.startsWith('HTTP_')) headers[key] = environ[key] as string;
  return {
    method: environ.REQUEST_METHOD,
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    rawPath: environ['ngi.raw_path'],
    query: environ.QUERY_STRING,
    contentType: environ.CONTENT_TYPE ?? null,
    contentLength: environ.CONTENT_LENGTH ?? null,
    protocol: environ.SERVER_PROTOCOL,
    scheme: environ['ngi.url_scheme'],
    server: [environ.SERVER_NAME, environ.SERVER_PORT],
    remoteAddr: environ.REMOTE_ADDR ?? null,
    headers,
  };
}

const routes: Record<string, Application> = {
  '/echo': (environ, startResponse) => json(startResponse, describeEnviron(environ)),
  '/upload': async (environ, startResponse) => {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of environ['ngi.input']) {
      hash.update(chunk);
      size += chunk.byteLength;
    }
    return json(startResponse, { size, sha256: hash.digest('hex') });
  },
  '/mirror': async (environ, startResponse) => {
    startResponse('200 OK', [['content-type', environ.CONTENT_TYPE ?? 'application/octet-stream']]);
    return environ['ngi.input'];
  },
  '/status': (environ, startResponse) => {
    const code = environ.PATH_INFO.slice(1) || '200';
    const bodyless = code === '204' || code === '304';
    startResponse(`${code} Custom Reason`, bodyless ? [['x-code', code]] : [['content-type', 'text/plain'], ['x-code', code]]);
    return bodyless ? [] : [`status ${code}`];
  },
  '/cookies': (_environ, startResponse) => {
    startResponse('200 OK', [
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2; HttpOnly'],
      ['x-multi', 'one'],
      ['x-multi', 'two'],
    ]);
    return ['cookies'];
  },
  '/latin1': (_environ, startResponse) => {
    startResponse('200 Caf\xe9', [['content-type', 'text/plain'], ['x-latin1', 'caf\xe9 \xff']]);
    return ['ok'];
  },
  '/big-header': (_environ, startResponse) => {
    startResponse('200 OK', [['content-type', 'text/plain'], ['x-big', 'v'.repeat(8000)]]);
    return ['big'];
  },
  '/bytes': (environ, startResponse) => {
    const size = Number(environ.PATH_INFO.slice(1));
    const bytes = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 255);
    startResponse('200 OK', [['content-type', 'application/octet-stream'], ['content-length', String(size)]]);
    return [bytes.subarray(0, size >> 1), bytes.subarray(size >> 1)];
  },
  '/empty': (_environ, startResponse) => {
    startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '0']]);
    return [];
  },
  '/stream': (environ, startResponse) => {
    const id = environ.PATH_INFO.slice(1);
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return tracked(id, environ, (async function* () {
      yield 'first;';
      await gate(id);
      yield 'second';
    })());
  },
  '/sse': async (environ, startResponse) => {
    const id = environ.PATH_INFO.slice(1);
    const write = startResponse('200 OK', [['content-type', 'text/event-stream'], ['cache-control', 'no-store']]);
    await write('');
    return tracked(id, environ, (async function* () {
      await gate(id);
      yield 'data: one\n\n';
      yield 'data: two\n\n';
    })());
  },
  '/forever': (environ, startResponse) => {
    const id = environ.PATH_INFO.slice(1);
    startResponse('200 OK', [['content-type', 'text/plain']]);
    return tracked(id, environ, (async function* () {
      const signal = environ['ngi.signal'];
      while (!signal.aborted) {
        yield 'tick\n';
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })());
  },
  '/error-before': () => {
    throw new Error('fixture: failed before the head');
  },
  '/error-after': (_environ, startResponse) => {
    startResponse('200 OK', [['content-type', 'text/plain']]);
    // The failure comes a moment later, once 'partial' is surely on the wire: a failure in the
    // same tick may legitimately become a 500 where a bridge has not passed the head on yet.
    return (async function* () {
      yield 'partial';
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('fixture: failed after the head');
    })();
  },
  '/release': (environ, startResponse) => {
    const id = environ.PATH_INFO.slice(1);
    gates.get(id)?.();
    gates.delete(id);
    return text('200 OK', 'released')(environ, startResponse);
  },
  '/stats': (environ, startResponse) => json(startResponse, stats.get(environ.PATH_INFO.slice(1)) ?? null),
  // Answers without reading the body, then begins reading it once the response is over (§4.3).
  '/read-late': (environ, startResponse) => {
    const id = environ.PATH_INFO.slice(1);
    startResponse('202 Accepted', [['content-type', 'text/plain'], ['content-length', '5']]);
    return Object.assign(['later'], { close: () => void setTimeout(() => void readLate(id, environ), 50) });
  },
  '/late': (environ, startResponse) => json(startResponse, lateReads.get(environ.PATH_INFO.slice(1)) ?? null),
  // Reads the whole body, recording how the reading ended, before it answers.
  '/read-all': async (environ, startResponse) => {
    await readLate(environ.PATH_INFO.slice(1), environ);
    return text('200 OK', 'read')(environ, startResponse);
  },
  // A complete response of the kind `?status=` names (200, 204, or 500 thrown before the head), its signal watched.
  '/settle': (environ, startResponse) => {
    const record = { closed: 0, aborted: false, finished: false };
    stats.set(environ.PATH_INFO.slice(1), record);
    environ['ngi.signal'].addEventListener('abort', () => (record.aborted = true));
    const status = new URLSearchParams(environ.QUERY_STRING).get('status');
    if (status === '500') throw new Error('fixture: fails before the head');
    if (status === '204') startResponse('204 No Content', []);
    else startResponse('200 OK', [['content-type', 'text/plain'], ['content-length', '2']]);
    return Object.assign(status === '204' ? [] : ['ok'], { close: () => void record.closed++ });
  },
};

async function readLate(id: string, environ: Environ): Promise<void> {
  try {
    let read = 0;
    for await (const chunk of environ['ngi.input']) read += chunk.byteLength;
    lateReads.set(id, `read ${read} bytes`);
  } catch (error) {
    lateReads.set(id, error instanceof TypeError ? 'TypeError' : String(error));
  }
}

/** Wraps a body so the fixture records `close()` calls and whether the client went away. */
function tracked(id: string, environ: Environ, body: AsyncGenerator<string>) {
  const record = { closed: 0, aborted: false, finished: false };
  stats.set(id, record);
  environ['ngi.signal'].addEventListener('abort', () => (record.aborted = true));
  return Object.assign(body, { close: () => void record.closed++ });
}

const byPath = mount(routes, { fallback: text('404 Not Found', 'no such fixture route') });

/** The fixture, also mounted under `/mnt` to check SCRIPT_NAME handling through every adapter. */
export const fixture: Application = mount({ '/mnt': byPath }, { fallback: byPath });
