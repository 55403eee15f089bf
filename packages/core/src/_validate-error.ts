/**
 * A broken rule of `docs/spec.md`, found by {@link validator}. The message starts with the
 * rule number (`§6.3: hop-by-hop header Connection is the server's to set`); `rule` holds it alone.
 */
export class ValidationError extends Error {
  /** The rule that was broken, e.g. `"§6.3"`. */
  readonly rule: string;

  constructor(rule: string, detail: string) {
    super(`${rule}: ${detail}`);
    this.name = 'ValidationError';
    this.rule = rule;
  }
}

/**
 * Turns a TypeError from the shared header checks (`_headers.ts`), whose message starts
 * with its rule, into a ValidationError; anything else is rethrown as is.
 */
export function asValidationError(error: unknown): unknown {
  if (!(error instanceof TypeError)) return error;
  const match = /^(§\d+\.\d+): ([\s\S]*)$/.exec(error.message);
  return match ? new ValidationError(match[1]!, match[2]!) : error;
}

/** True for promises, from any realm or library, and other thenables: what `await` waits for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown } | null)?.then === 'function';
}
