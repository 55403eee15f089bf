import { binds, boolean, headSize, integer, list, seconds, size, text, timeout, type Where } from './_parsers.ts';

/** One `ngi serve` option, settable (highest first) by flag, `NGI_*` variable or settings module. */
export interface OptionSpec {
  /** The flag, without `--`. Its variable is `NGI_` + upper snake case; its setting, upper snake case. */
  flag: string;
  short?: string;
  /** boolean flags take no value; list flags may repeat. */
  type: 'boolean' | 'string' | 'list';
  parse: (value: unknown, where: Where) => unknown;
  /** Shown in --help. */
  help: string;
  /** The value in --help, e.g. `N`. */
  arg?: string;
}

/** The options, keyed by their name in {@link ServeConfig}. Defaults live in `_config.ts`. */
export const OPTIONS = {
  factory: { flag: 'factory', type: 'boolean', parse: boolean, help: 'call the export with no arguments and serve the application it returns' },
  bind: { flag: 'bind', short: 'b', type: 'list', arg: 'ADDR', parse: binds, help: 'listen on HOST:PORT, [::1]:PORT or unix:PATH; repeatable; $PORT means 0.0.0.0:$PORT (default 127.0.0.1:8000)' },
  workers: { flag: 'workers', short: 'w', type: 'string', arg: 'N', parse: integer(1), help: 'worker processes; $WEB_CONCURRENCY sets it too (default 1)' },
  maxRequests: { flag: 'max-requests', type: 'string', arg: 'N', parse: integer(0), help: 'restart a worker after N requests; 0 never (default 0)' },
  maxRequestsJitter: { flag: 'max-requests-jitter', type: 'string', arg: 'J', parse: integer(0), help: 'add 0..J to --max-requests per worker, so they do not restart together (default 0)' },
  timeout: { flag: 'timeout', type: 'string', arg: 'SECONDS', parse: timeout, help: 'kill a worker whose event loop is blocked this long, or still loading the application; 0 never, else at least 0.2 (default 30)' },
  gracefulTimeout: { flag: 'graceful-timeout', type: 'string', arg: 'SECONDS', parse: seconds, help: 'how long a stopping worker may finish requests (default 30)' },
  keepAlive: { flag: 'keep-alive', type: 'string', arg: 'SECONDS', parse: seconds, help: 'how long an idle keep-alive connection stays open (default 5)' },
  maxHeaderSize: { flag: 'max-header-size', type: 'string', arg: 'BYTES', parse: headSize, help: 'largest request head; 431 past it (default 16k)' },
  maxBodySize: { flag: 'max-body-size', type: 'string', arg: 'BYTES', parse: size, help: 'largest request body; 413 past it; 0 no limit (default 0)' },
  requestTimeout: { flag: 'request-timeout', type: 'string', arg: 'SECONDS', parse: seconds, help: 'most time to receive a whole request; 408 past it; 0 none (default 300)' },
  accessLog: { flag: 'access-log', type: 'string', arg: 'TARGET', parse: text, help: '"-" for stdout, a file path, or "off" (default -)' },
  accessLogFormat: { flag: 'access-log-format', type: 'string', arg: 'FORMAT', parse: text, help: '"combined", "common" or a format of %(h)s-style tokens (default combined)' },
  forwardedAllowIps: { flag: 'forwarded-allow-ips', type: 'list', arg: 'IPS', parse: list, help: 'proxies trusted for X-Forwarded-*: IPs, CIDRs, "unix" or "*" (default 127.0.0.1,::1,unix)' },
  forwardedHeaders: { flag: 'forwarded-headers', type: 'list', arg: 'NAMES', parse: list, help: 'X-Forwarded-* headers taken from them: for,proto,host,port,prefix (default for,proto)' },
  reload: { flag: 'reload', type: 'boolean', parse: boolean, help: 'development: restart on file changes, check the app with the validator, show errors in the browser' },
  reloadDir: { flag: 'reload-dir', type: 'list', arg: 'DIR', parse: list, help: 'directory watched by --reload; repeatable (default the working directory)' },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `max-requests` → `MAX_REQUESTS`. */
export function settingName(option: OptionSpec): string {
  return option.flag.toUpperCase().replaceAll('-', '_');
}
