import type { HeaderList } from '@ngi/core';
import type { FastifyReply } from 'fastify';

/** Headers several parties may contribute to: values set on `reply` earlier are kept (RFC 9110 §5.3). */
const MERGED = new Set(['set-cookie', 'vary']);

/**
 * Puts the application's headers on `reply` next to those set earlier (hooks, CORS, cookies), on
 * `reply` or on `reply.raw`: the application's value replaces a header of the same name, except
 * `set-cookie` and `vary`, which add up. Repeated names go in as one array, so each value is
 * sent as its own field line (§6.3). Returns the application's Content-Type.
 */
export function mergeHeaders(reply: FastifyReply, headers: HeaderList): string | undefined {
  let type: string | undefined;
  if (headers.length === 1 || (headers.length === 2 && headers[0]![0].toLowerCase() !== headers[1]![0].toLowerCase())) {
    for (const [name, value] of headers) {
      const lower = name.toLowerCase();
      if (lower === 'content-type') type = value;
      if (MERGED.has(lower)) setHeader(reply, lower, [value]);
      else reply.header(lower, value);
    }
    return type;
  }
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const values = grouped.get(lower);
    if (values === undefined) grouped.set(lower, [value]);
    else values.push(value);
  }
  for (const [lower, values] of grouped) setHeader(reply, lower, values);
  return grouped.get('content-type')?.[0];
}

function setHeader(reply: FastifyReply, lower: string, values: string[]): void {
  if (MERGED.has(lower)) {
    const earlier = reply.getHeader(lower);
    if (earlier !== undefined) {
      if (lower === 'vary') values = [[earlier, ...values].join(', ')];
      else values = [...(Array.isArray(earlier) ? earlier : [String(earlier)]), ...values];
      reply.removeHeader(lower);
    }
  }
  reply.header(lower, values.length === 1 ? values[0] : values);
}
