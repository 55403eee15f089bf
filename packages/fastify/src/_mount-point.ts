import { normalizePath, parseTarget, type ParsedTarget } from '@ngi/core';
import { baseUrlSymbol } from '@ngi/node';
import type { FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { RawRequest } from './_environ.ts';
import { encodePathFor, hasKeptEscape, pathAfter, splitPath, type PrefixSegment } from './_paths.ts';

/** What finding the mount point needs from the plugin's options. */
export interface MountSettings {
  /** The plugin prefix's segments. */
  prefix: readonly PrefixSegment[];
  /** Fastify's router ends the path at a `;` (`useSemicolonDelimiter`). */
  semicolon: boolean;
}

/**
 * The decoded mount point (`SCRIPT_NAME`) of the request's path under the plugin prefix, or
 * undefined when the request was answered instead: a 400 for a path that cannot be decoded
 * (§3.3), a redirect to its normal form (or to another route's path, for a `%2F`), or Fastify's
 * not-found handler.
 */
export function mountPoint(request: FastifyRequest, reply: FastifyReply, url: string, settings: MountSettings): string | undefined {
  let target: ParsedTarget;
  try {
    target = parseTarget(url);
  } catch (error) {
    reply.send(error); // an HttpError 400 for Fastify to render
    return undefined;
  }
  const path = normalizePath(target.path);
  if (path !== target.path || (hasKeptEscape(target.rawPath) && routedElsewhere(request, path, settings))) {
    redirect(request, reply, path, target, settings);
    return undefined;
  }
  const split = splitPath(target.rawPath, path, settings.prefix);
  // Fastify routed the path here, so it is under the prefix, unless a rewrite disagrees.
  if (split === undefined) reply.callNotFound();
  return split?.[0];
}

/**
 * Whether Fastify would route the decoded path to another route than the plugin's. Its router
 * keeps `%2F` (and `%40`, `%3A`, … : `hasKeptEscape`) encoded, so `/api%2Fadmin` or
 * `/users/%40me` comes here past a route `/api/admin` or `/users/@me` and its hooks, while the
 * application sees the decoded path (§3.3; CVE-2026-22031). The plugin's own routes match
 * with the prefix's parameters, and the rest of the path as `*`.
 */
function routedElsewhere(request: FastifyRequest, path: string, settings: MountSettings): boolean {
  const headers = request.headers;
  // Fastify's own constraints, derived as its router does (undefined where the header is
  // absent), so a route for one host or version is found for that host or version only.
  const constraints = { host: headers.host ?? headers[':authority'], version: headers['accept-version'] } as { host: string; version: string };
  const route = request.server.findRoute({ method: request.method as HTTPMethods, url: encodePathFor(path, settings.semicolon), constraints }) as FoundRoute;
  if (route === null) return false;
  const rest = pathAfter(path, settings.prefix.length).slice(1);
  return (route.params['*'] ?? '') !== rest || paramNames(route.params) !== paramNames(request.params as object);
}

/** What `findRoute` returns: `null` where no route matches, though its type leaves that out. */
type FoundRoute = { params: Record<string, string | undefined> } | null;

/** The names of a route's parameters before its `*`, in order. */
function paramNames(params: object): string {
  return Object.keys(params)
    .filter((name) => name !== '*')
    .join('/');
}

/**
 * A path that is not in normal form once decoded (`//`, `.` or `..` segments, `%2F` included)
 * goes back to the client in normal form, the form an NGI application sees it in (§14.2). Fastify
 * routes on the path as sent, so serving it here could reach the application past the routes
 * and hooks Fastify has for that normal form (`/x/../admin`, `/%2Fadmin`; CVE-2026-22031). So
 * does a path whose `%2F` makes it another route's (see `routedElsewhere`).
 */
function redirect(request: FastifyRequest, reply: FastifyReply, path: string, target: ParsedTarget, settings: MountSettings): void {
  const base = (request.raw as RawRequest)[baseUrlSymbol] ?? '';
  const query = target.query === '' ? '' : `?${target.query}`;
  void reply.redirect(base + encodePathFor(path, settings.semicolon) + query, 308);
}
