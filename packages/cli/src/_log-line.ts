import type { Environ, HeaderList } from '@ngi/core';

/** What a log line is made of. */
export interface Exchange {
  environ: Environ;
  /** `"NNN Reason"` as the application gave it (or the error status the server sent). */
  status: string;
  headers: HeaderList;
  bytes: number;
  /** When the request began, in ms since the epoch. */
  startedAt: number;
  /** Milliseconds since the request began. */
  duration(): number;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let cachedSecond = -1;
let cachedText = '';

/** `10/Oct/2000:13:55:36 -0700` in local time; built once per second, not per request. */
export function clfDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === cachedSecond) return cachedText;
  const date = new Date(second * 1000);
  const offset = -date.getTimezoneOffset();
  const zone = `${offset >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  cachedSecond = second;
  cachedText = `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`;
  return cachedText;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Escapes `"` and `\` and writes control and non-ASCII characters as `\xHH`, as Apache does,
 * so a request cannot forge log lines or fields.
 */
export function escape(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/["\\\x00-\x1f\x7f-\uffff]/.test(value)) return value;
  return value.replace(/["\\]|[\x00-\x1f\x7f-\uffff]/g, (char) =>
    char === '"' || char === '\\' ? `\\${char}` : `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
