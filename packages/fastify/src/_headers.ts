import { lowerCaseName, namedBefore, sameHeaderName, type HeaderList } from '@ngi/core';
import type { FastifyReply } from 'fastify';

/** Where `mergeHeaders` keeps the headers set before that the application's replace or add to, made only when there were some. */
export interface Earlier {
  earlier: Map<string, unknown> | undefined;
}

/**
 * Puts the application's headers on `reply` next to those set earlier (hooks, CORS, cookies), on
 * `reply` or on `reply.raw`: the application's value replaces a header of the same name, except
 * `set-cookie` and `vary`, which add up (RFC 9110 §5.3). Repeated names go in as one array, so
 * each value is sent as its own field line (§6.3). Returns the application's Content-Type.
 */
export function mergeHeaders(reply: FastifyReply, headers: HeaderList, kept: Earlier): string | undefined {
  let type: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const [name, first] = headers[i]!;
    if (namedBefore(headers, i)) continue; // it went in with the first of its name
    let value: string | string[] = first;
    for (let j = i + 1; j < headers.length; j++) {
      const [other, more] = headers[j]!;
      if (sameHeaderName(other, name)) value = typeof value === 'string' ? [value, more] : [...value, more];
    }
    const lower = lowerCaseName(name);
    if (lower === 'content-type') type = first;
    if (lower === 'set-cookie' || lower === 'vary') value = withEarlier(reply, lower, value, kept);
    else {
      // Replaced: kept for `unmergeHeaders` to put back.
      const earlier = reply.getHeader(lower);
      if (earlier !== undefined) (kept.earlier ??= new Map()).set(lower, earlier);
    }
    reply.header(lower, value);
  }
  return type;
}

/**
 * Takes the application's headers off `reply` again, for an answer from Fastify's error handler
 * in place of the response they described (a Content-Encoding, a Cache-Control, a cookie would
 * go with the error page): those set earlier, which they replaced or added to, are put back as they were.
 */
export function unmergeHeaders(reply: FastifyReply, headers: HeaderList, kept: Earlier): void {
  for (const [name] of headers) {
    const lower = lowerCaseName(name);
    const value = kept.earlier?.get(lower);
    reply.removeHeader(lower);
    if (value !== undefined) reply.header(lower, value);
  }
}

/** `set-cookie` values after those set earlier; `vary` joined to the one set earlier, which `earlier` keeps. */
function withEarlier(reply: FastifyReply, lower: string, value: string | string[], kept: Earlier): string | string[] {
  const earlier = reply.getHeader(lower);
  if (earlier === undefined) return value;
  (kept.earlier ??= new Map()).set(lower, earlier);
  reply.removeHeader(lower);
  const values = typeof value === 'string' ? [value] : value;
  if (lower === 'vary') return [earlier, ...values].join(', ');
  return [...(Array.isArray(earlier) ? earlier : [String(earlier)]), ...values];
}
