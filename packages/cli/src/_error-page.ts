import { describeError, isThenable, type Application, type Chunk, type Environ, type ResponseBody, type StartResponse } from '@ngi/core';
import { UsageError } from './_errors.ts';

const HEADERS: [string, string][] = [['content-type', 'text/html; charset=utf-8'], ['cache-control', 'no-store']];

/**
 * Development middleware (`--reload`): an error before the head is sent is answered with a
 * page showing it, through `startResponse(…, error)` as §11.4 allows, instead of the server's
 * generic 500. After the head, the error goes on to the server (§11.2). Never for production:
 * the page shows the stack.
 */
export function errorPage(app: Application): Application {
  return (environ, startResponse) => {
    let sent = false;
    const start: StartResponse = (status, headers, error) => {
      const write = error === undefined ? startResponse(status, headers) : startResponse(status, headers, error);
      return (chunk) => {
        if (chunk.length > 0) sent = true;
        return write(chunk);
      };
    };
    const fail = (error: unknown): ResponseBody => {
      if (sent) throw error;
      return page(environ, startResponse, error);
    };
    let result: ReturnType<Application>;
    try {
      result = app(environ, start);
    } catch (error) {
      return fail(error);
    }
    const guard = (body: ResponseBody): ResponseBody => guarded(body, fail, () => (sent = true));
    return isThenable(result) ? Promise.resolve(result).then(guard, fail) : guard(result);
  };
}

/**
 * An application that answers every request with the page for an error (a module that failed to
 * load). A mistake found while loading (`UsageError`: a syntax error, a missing export) is its
 * message, already said on stderr: its stack would show only the loader's own frames.
 */
export function errorApplication(error: unknown, title = 'The application could not be loaded'): Application {
  const mistake = error instanceof UsageError;
  return (environ, startResponse) => page(environ, startResponse, error, title, !mistake);
}

function page(environ: Environ, startResponse: StartResponse, error: unknown, title = 'Internal Server Error', stack = true): ResponseBody {
  // Throws the error itself when the head is already out (§6.4), which is what should happen.
  startResponse('500 Internal Server Error', HEADERS, error);
  if (stack) environ['ngi.errors'].write(`${describeError(error)}\n`);
  const request = `${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}${environ.PATH_INFO}`;
  const message = error instanceof Error ? (stack ? `${error.name}: ${error.message}` : error.message) : String(error);
  return [
    `<!doctype html><html><head><meta charset="utf-8"><title>${html(message)}</title></head><body>` +
      `<h1>${html(title)}</h1><p>${html(request)}</p><h2>${html(message)}</h2>${stack ? `<pre>${html(describeError(error))}</pre>` : ''}` +
      `<p>This page is shown because ngi serve runs with --reload.</p></body></html>\n`,
  ];
}

/** The body, with an error thrown before its first non-empty chunk turned into the page. */
function guarded(body: ResponseBody, fail: (error: unknown) => ResponseBody, markSent: () => void): ResponseBody {
  if (Array.isArray(body)) return body;
  const sync = Symbol.iterator in body;
  let replacement: Iterator<Chunk> | undefined;
  const step = (result: IteratorResult<Chunk>): IteratorResult<Chunk> => {
    if (!result.done && result.value.length > 0) markSent();
    return result;
  };
  const recover = (error: unknown): IteratorResult<Chunk> => {
    replacement = (fail(error) as Chunk[])[Symbol.iterator]();
    return replacement.next();
  };
  const wrap = (iterator: Iterator<Chunk> | AsyncIterator<Chunk>) => ({
    next(): IteratorResult<Chunk> | Promise<IteratorResult<Chunk>> {
      if (replacement) return sync ? replacement.next() : Promise.resolve(replacement.next());
      try {
        const result = iterator.next();
        return isThenable(result) ? Promise.resolve(result).then(step, recover) : step(result);
      } catch (error) {
        return recover(error);
      }
    },
    return(value?: unknown) {
      return iterator.return?.(value) ?? { done: true as const, value: undefined };
    },
  });
  const wrapped = (sync
    ? { [Symbol.iterator]: () => wrap((body as Iterable<Chunk>)[Symbol.iterator]()) }
    : { [Symbol.asyncIterator]: () => wrap((body as AsyncIterable<Chunk>)[Symbol.asyncIterator]()) }) as ResponseBody;
  // Bound, not `() => body.close()`: see core's Exchange.
  if (typeof body.close === 'function') wrapped.close = body.close.bind(body);
  return wrapped;
}

function html(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
