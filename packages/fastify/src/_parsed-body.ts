import type { Environ } from '@ngi/core';
import { parsedBodyInput, type ParsedBody, type ParsedBodyFailure, type ParsedBodyMode } from '@ngi/node';

export type { ParsedBodyMode } from '@ngi/node';

/**
 * `ngi.input` for a request whose body was read before the plugin ran (a hook, a middleware
 * in `@fastify/express`): what it left, handed over by `parsedBodyInput`, or an error naming
 * the plugin and how to avoid it.
 */
export function parsedInput(environ: Environ, sources: ParsedBody, mode: ParsedBodyMode): AsyncIterable<Uint8Array> {
  return parsedBodyInput(environ, sources, { mode, message: consumedMessage });
}

const REASONS: Record<ParsedBodyFailure, string> = {
  refused: 'and the parsedBody option is "error"',
  missing: 'and left no body',
  unserializable: 'and left a body that cannot be serialized again',
};

function consumedMessage(failure: ParsedBodyFailure, kind: string): string {
  const why = REASONS[failure] + (failure === 'unserializable' ? ` (${kind})` : '');
  return (
    `@ngi/fastify: a hook or middleware before the plugin already read the request body ${why}; ` +
    'register the plugin before it, or keep the raw bytes as request.rawBody'
  );
}
