import { inspect } from 'node:util';

/**
 * What Fastify's error handler gets for an application's failure that is not an Error, which
 * Fastify would send as a 200 payload. Express code passes `next('failed')` or
 * `next({ status: 503, message: 'maintenance' })`: the Error carries the string, or the
 * object's message and own fields (`status`, `statusCode`, `code`, `headers`, which Fastify's
 * error handling reads), with the value as its cause.
 */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value, { cause: value });
  const message = (value as { message?: unknown } | null | undefined)?.message;
  const error = new Error(typeof message === 'string' ? message : `@ngi/fastify: the application threw ${inspect(value)}`, { cause: value });
  return typeof value === 'object' && value !== null ? Object.assign(error, value) : error;
}
