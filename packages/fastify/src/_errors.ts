import { inspect } from 'node:util';

/** The fields Fastify's error handling reads, copied wherever the value has them (a class's getters too). */
const READ = ['statusCode', 'status', 'code', 'headers'];

/**
 * What Fastify's error handler gets for an application's failure that is not an Error, which
 * Fastify would send as a 200 payload. Express code passes `next('failed')` or
 * `next({ status: 503, message: 'maintenance' })`: the Error carries the string, or the
 * object's message (a string one) and fields (its own, and `statusCode`, `status`, `code` and
 * `headers`, which Fastify's error handling reads), with the value as its cause. Fields are
 * defined, not assigned: a `__proto__` key (from JSON) cannot replace the Error's prototype.
 */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value, { cause: value });
  const message = fieldOf(value, 'message');
  const error = new Error(typeof message === 'string' ? message : `@ngi/fastify: the application threw ${inspect(value)}`, { cause: value });
  if (typeof value !== 'object' || value === null) return error;
  for (const key of new Set([...Object.keys(value), ...READ])) {
    if (key === 'message' || key === 'stack' || key === 'cause') continue;
    const field = fieldOf(value, key);
    if (field !== undefined) Object.defineProperty(error, key, { value: field, writable: true, enumerable: true, configurable: true });
  }
  return error;
}

/** A field of what was thrown; a getter that throws counts as none. */
function fieldOf(value: unknown, key: string): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}
