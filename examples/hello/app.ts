import type { Application } from '@ngi/core';

/** The smallest NGI application: a greeting, and an event stream at /clock. */
export const application: Application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/clock') return clock(environ, startResponse);
  const name = new URLSearchParams(environ.QUERY_STRING).get('name') ?? 'world';
  const body = `Hello, ${name}! You asked for ${environ.REQUEST_METHOD} ${environ.PATH_INFO}\n`;
  startResponse('200 OK', [
    ['content-type', 'text/plain; charset=utf-8'],
    ['content-length', String(Buffer.byteLength(body))],
  ]);
  return [body];
};

/** Server-sent events, one a second, until the client goes away (`ngi.signal`). */
const clock: Application = async function* (environ, startResponse) {
  const write = startResponse('200 OK', [['content-type', 'text/event-stream'], ['cache-control', 'no-store']]);
  await write(''); // §8.3: send the head now, before the first event
  const signal = environ['ngi.signal'];
  for (let i = 0; i < 5 && !signal.aborted; i++) {
    yield `data: ${new Date().toISOString()}\n\n`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
};
