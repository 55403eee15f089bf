/** An error that carries the HTTP status a server should answer with (e.g. 400, 413). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The `ngi.errors` stream used when a caller supplies none: one `console.error` line per message. */
export const consoleErrors = {
  write(message: string): void {
    console.error(message.endsWith('\n') ? message.slice(0, -1) : message);
  },
  flush(): void {},
};

/** Formats an error for `ngi.errors`: its stack when there is one. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error);
}
