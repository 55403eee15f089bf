/**
 * A mistake the user can fix (a bad flag, a missing module, a port in use): `main` prints
 * its message as one line on stderr and exits with `exitCode`, never with a stack trace.
 */
export class UsageError extends Error {
  constructor(
    message: string,
    /** 2 for a bad command line, 1 for a problem found while starting. */
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A problem found while loading an application or settings module (exit code 1). */
export class LoadError extends UsageError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'LoadError';
  }
}

/** One line: newlines in an error message (esbuild's, V8's) are folded into spaces. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
