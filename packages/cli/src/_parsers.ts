import { UsageError } from './_errors.ts';

/** Where a value came from, for messages: `--workers`, `NGI_WORKERS`, `WORKERS in settings.ts`. */
export type Where = string;

/** A listening address: `HOST:PORT` or `unix:PATH`. */
export type Bind = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

function bad(where: Where, expected: string, value: unknown): UsageError {
  // A promise (`export const WORKERS = load()`) would show as `{}`.
  const shown = value instanceof Promise ? 'a Promise (await it at the top level of the settings module)' : (JSON.stringify(value) ?? String(value));
  return new UsageError(`${where} must be ${expected}, got ${shown}`);
}

/** A whole number ≥ `min`, from a number or a string of digits. */
export function integer(min: number) {
  return (value: unknown, where: Where): number => {
    const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) throw bad(where, `a whole number ≥ ${min}`, value);
    return number;
  };
}

/**
 * Node's timers hold at most 2^31-1 ms, and one set longer fires after 1 ms: a longer
 * --graceful-timeout would drop every request in flight instead of waiting for it.
 */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A duration in seconds (decimals allowed), from 0 to {@link MAX_SECONDS}. */
export function seconds(value: unknown, where: Where): number {
  const number = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0 || number > MAX_SECONDS) {
    throw bad(where, `a number of seconds from 0 to ${MAX_SECONDS}`, value);
  }
  return number;
}

/**
 * The shortest --timeout but 0 (never): four heartbeats, which a worker sends every quarter of
 * the timeout but no more often than every 50 ms (`heartbeat`). Below it, live workers would
 * be killed over and over.
 */
export const MIN_TIMEOUT = 0.2;

/** --timeout: 0, or seconds from {@link MIN_TIMEOUT}. */
export function timeout(value: unknown, where: Where): number {
  const number = seconds(value, where);
  if (number > 0 && number < MIN_TIMEOUT) {
    throw bad(where, `0 (never) or at least ${MIN_TIMEOUT} seconds (a worker's heartbeat is too slow for less)`, value);
  }
  return number;
}

/** A size in bytes: `16384`, `64k`, `10mb`, `1g` (binary units). */
export function size(value: unknown, where: Where): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const match = typeof value === 'string' ? /^(\d+)\s*([a-z]*)$/i.exec(value.trim()) : null;
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw bad(where, 'a size in bytes (like 16384, 64k or 10mb)', value);
  return Number(match[1]) * unit;
}

/**
 * The largest request head: Node takes 0 for its default (16 KiB), so 0 cannot mean "no limit"
 * here as it does for the body.
 */
export function headSize(value: unknown, where: Where): number {
  const bytes = size(value, where);
  if (bytes === 0) throw bad(where, 'a size in bytes of 1 or more (a head always has a limit)', value);
  return bytes;
}

/** true/false, also from `1`/`0`, `yes`/`no`, `true`/`false`. */
export function boolean(value: unknown, where: Where): boolean {
  if (typeof value === 'boolean') return value;
  const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(text) && typeof value === 'string') return false;
  throw bad(where, 'true or false', value);
}

/** A non-empty string. */
export function text(value: unknown, where: Where): string {
  if (typeof value !== 'string' || value === '') throw bad(where, 'a non-empty string', value);
  return value;
}

/** A list: an array, or a string of items separated by commas or spaces. */
export function list(value: unknown, where: Where): string[] {
  const items = typeof value === 'string' ? value.split(/[\s,]+/) : Array.isArray(value) ? value : undefined;
  if (items === undefined || !items.every((item) => typeof item === 'string')) throw bad(where, 'a list of strings', value);
  return (items as string[]).filter((item) => item !== '');
}

/**
 * `HOST:PORT`, `[IPv6]:PORT`, `HOST` (port 8000), `:PORT` or `PORT` (host 127.0.0.1), or
 * `unix:PATH`; also gunicorn's spellings `unix://PATH` and `tcp://HOST:PORT` (util.py parse_address).
 */
export function parseBind(spelled: string, where: Where): Bind {
  // `unix://run/app.sock` is the relative path run/app.sock there, not /run/app.sock.
  const value = spelled.replace(/^unix:\/\//, 'unix:').replace(/^tcp:\/\//, '');
  if (value.startsWith('unix:')) {
    const path = value.slice(5);
    if (path === '') throw bad(where, 'unix:PATH with a path', spelled);
    return { kind: 'unix', path };
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*))(?::(\d+))?$/.exec(value);
  const digitsOnly = /^\d+$/.test(value);
  const host = digitsOnly ? '127.0.0.1' : (match?.[1] ?? match?.[2] ?? '');
  const port = Number(digitsOnly ? value : (match?.[3] ?? '8000'));
  if (!match || port > 65535 || (host === '' && match[3] === undefined)) {
    throw bad(where, 'HOST:PORT or unix:PATH (like 127.0.0.1:8000, [::1]:8000 or unix:/run/app.sock)', spelled);
  }
  return { kind: 'tcp', host: host === '' ? '127.0.0.1' : host, port };
}

/** A list of addresses, each as {@link parseBind} reads it; a mistake names where the list came from. */
export function binds(value: unknown, where: Where): Bind[] {
  return list(value, where).map((item) => parseBind(item, where));
}

/** How a bind is shown in the banner and in messages. */
export function formatBind(bind: Bind): string {
  if (bind.kind === 'unix') return `unix:${bind.path}`;
  return `http://${bind.host.includes(':') ? `[${bind.host}]` : bind.host}:${bind.port}`;
}
