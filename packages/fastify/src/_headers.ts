import { lowerCaseName, namedBefore, sameHeaderName, type HeaderList } from '@ngi/core';
import type { FastifyReply } from 'fastify';

/**
 * Puts the application's headers on `reply` next to those set earlier (hooks, CORS, cookies), on
 * `reply` or on `reply.raw`: the application's value replaces a header of the same name, except
 * `set-cookie` and `vary`, which add up (RFC 9110 §5.3). Repeated names go in as one array, so
 * each value is sent as its own field line (§6.3). Returns the application's Content-Type.
 */
export function mergeHeaders(reply: FastifyReply, headers: HeaderList): string | undefined {
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
    if (lower === 'set-cookie' || lower === 'vary') value = withEarlier(reply, lower, value);
    reply.header(lower, value);
  }
  return type;
}

/** `set-cookie` values after those set earlier; `vary` joined to the one set earlier. */
function withEarlier(reply: FastifyReply, lower: string, value: string | string[]): string | string[] {
  const earlier = reply.getHeader(lower);
  if (earlier === undefined) return value;
  reply.removeHeader(lower);
  const values = typeof value === 'string' ? [value] : value;
  if (lower === 'vary') return [earlier, ...values].join(', ');
  return [...(Array.isArray(earlier) ? earlier : [String(earlier)]), ...values];
}
