import { BlockList, isIP } from 'node:net';
import { proxyFix, type Application, type Middleware, type ProxyFixOptions } from '@ngi/core';
import { UsageError } from './_errors.ts';

const HEADERS = ['for', 'proto', 'host', 'port', 'prefix'] as const;

/**
 * Middleware that applies core's `proxyFix` only to requests whose peer (`REMOTE_ADDR`) is an
 * allowed proxy: IPs, CIDRs, `*` (any peer) or `unix` (a Unix socket, which has no address and
 * whose file permissions decide who connects). Anyone else's `X-Forwarded-*` headers are left
 * unapplied, so a client cannot forge its address (gunicorn `forwarded_allow_ips`). `overUnix`:
 * the requests come over a Unix socket, which is what `unix` allows; over TCP, a client that
 * resets its connection at once can leave Node without its address, which allows nothing.
 * Throws a UsageError for an address or header name it does not know.
 */
export function forwardedFrom(allowed: readonly string[], headers: readonly string[], overUnix: boolean): Middleware {
  const trusted = allowList(allowed, overUnix);
  const options: ProxyFixOptions = { for: 0, proto: 0 };
  for (const name of headers) {
    if (!(HEADERS as readonly string[]).includes(name)) {
      throw new UsageError(`unknown forwarded header "${name}" (use ${HEADERS.join(', ')})`);
    }
    options[name as (typeof HEADERS)[number]] = 1;
  }
  if (trusted === NOBODY || headers.length === 0) return (app) => app;
  const fix = proxyFix(options);
  return (app: Application): Application => {
    const fixed = fix(app);
    return (environ, startResponse) => (trusted(environ.REMOTE_ADDR) ? fixed : app)(environ, startResponse);
  };
}

type Matcher = (address: string | undefined) => boolean;
const NOBODY: Matcher = () => false;

function allowList(entries: readonly string[], overUnix: boolean): Matcher {
  if (entries.includes('*')) return () => true;
  const list = new BlockList();
  let unix = false;
  let any = false;
  for (const entry of entries) {
    if (entry === 'unix') unix = overUnix;
    else add(list, entry);
    any = true;
  }
  if (!any) return NOBODY;
  return (address) => {
    if (address === undefined) return unix;
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function add(list: BlockList, entry: string): void {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  const bits = prefix === undefined ? undefined : Number(prefix);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(prefix!) || bits > max))) {
    throw new UsageError(`--forwarded-allow-ips: "${entry}" is not an IP address, a CIDR (like 10.0.0.0/8), "unix" or "*"`);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, bits, type);
}
