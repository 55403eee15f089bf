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
 * Escapes `"` and `\` and writes control and non-ASCII characters as `\xHH`, one per byte, as
 * Apache does, so a request cannot forge log lines or fields: a header's octets (U+0080–U+00FF
 * as Node reads them) each as it is, a character past them by its UTF-8 bytes (`€` is
 * `\xe2\x82\xac`, where `\x20ac` would read as a space and "ac").
 */
export function escape(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/["\\\x00-\x1f\x7f-\uffff]/.test(value)) return value;
  return value.replace(/["\\]|[\x00-\x1f\x7f-\u{10ffff}]/gu, (char) => {
    if (char === '"' || char === '\\') return `\\${char}`;
    const code = char.codePointAt(0)!;
    return code <= 0xff ? hex(code) : Array.from(Buffer.from(char, 'utf8'), hex).join('');
  });
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * The most bytes one write to a pipe puts in it at once (PIPE_BUF on Linux): a longer write can
 * be interleaved with another worker's on the same stdout, tearing lines apart.
 */
const PIPE_BUF = 4096;

/** `text`, whole lines, in pieces of at most PIPE_BUF bytes; a longer line is a piece alone. */
export function pipeSized(text: string): string[] {
  if (Buffer.byteLength(text) <= PIPE_BUF) return [text];
  const pieces: string[] = [];
  let piece = '';
  let size = 0;
  for (const line of text.split(/(?<=\n)/)) {
    const bytes = Buffer.byteLength(line);
    if (piece !== '' && size + bytes > PIPE_BUF) {
      pieces.push(piece);
      piece = '';
      size = 0;
    }
    piece += line;
    size += bytes;
  }
  pieces.push(piece);
  return pieces;
}
