import { decodePath, encodePath } from '@ngi/core';

/**
 * Where a request's path splits into the mount point (`SCRIPT_NAME`) and the rest
 * (`PATH_INFO`) under a plugin prefix, on decoded, normalized paths (§3.3, §14.2).
 */

/** A prefix segment: its text, lower-cased, or `undefined` for one with a parameter in it. */
export type PrefixSegment = string | undefined;

/**
 * The segments of a plugin prefix, as Fastify's router reads them: a segment with a `:` in it
 * (`:id`, `v:version`, `:from-:to`, `:id(^\\d+$)`) has a parameter and matches any segment; in
 * the others `::` is a literal `:`. `/tenant/:id` → `['tenant', undefined]`, `''` → `[]`.
 */
export function prefixSegments(prefix: string): PrefixSegment[] {
  return prefix
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (segment.replaceAll('::', '').includes(':') ? undefined : segment.replaceAll('::', ':').toLowerCase()));
}

/**
 * Splits a request path after the segments of `prefix` into `SCRIPT_NAME` and `PATH_INFO`, both
 * decoded, or returns `undefined` when it is not under them. Segments are cut at the slashes the
 * client sent, so a `%2F` inside a `:param` stays in its segment, as for Fastify's router; they
 * compare decoded (`/%6Cegacy` is under `/legacy`, as Fastify routed it: CVE-2026-22031, middie
 * PR #245) and case-insensitively, as Fastify's router may have been told to.
 */
export function splitPath(rawPath: string, path: string, prefix: readonly PrefixSegment[]): [scriptName: string, pathInfo: string] | undefined {
  if (prefix.length === 0) return ['', path];
  let end = 0;
  for (const expected of prefix) {
    if (rawPath.charCodeAt(end) !== 47 /* / */) return undefined;
    let next = rawPath.indexOf('/', end + 1);
    if (next < 0) next = rawPath.length;
    // Fastify routed the request here, so a segment with a parameter is the one it matched.
    if (expected !== undefined && decodePath(rawPath.slice(end + 1, next)).toLowerCase() !== expected) return undefined;
    end = next;
  }
  return [decodePath(rawPath.slice(0, end)), decodePath(rawPath.slice(end))];
}

/**
 * Whether a raw path has an escape Fastify's router keeps as it is when it matches routes
 * (find-my-way's url-sanitizer: `# $ % & + , / : ; = ? @`), while the application sees it
 * decoded: `/users/%40me` is not the route `/users/@me` to the router.
 */
export function hasKeptEscape(rawPath: string): boolean {
  return KEPT_ESCAPE.test(rawPath);
}

const KEPT_ESCAPE = /%(?:2[3-6BCFbcf]|3[ABDFabdf]|40)/;

/** What follows the first `count` segments of a decoded path: `('/a/b/c', 1)` → `'/b/c'`. */
export function pathAfter(path: string, count: number): string {
  let end = 0;
  for (let i = 0; i < count && end >= 0; i++) end = path.indexOf('/', end + 1);
  return end < 0 ? '' : path.slice(end);
}

/**
 * The request target with its query where Fastify's router, told to `useSemicolonDelimiter`,
 * starts it: at the first `;` of the path, before any `?` (`/a;x=1?y` → `/a?x=1?y`), which
 * leaves the rest, `?` included, as the query (find-my-way#76, fastify#5050).
 */
export function semicolonToQuery(target: string): string {
  let i = 1;
  if (target.charCodeAt(0) !== 47 /* / */) {
    // The absolute form: the path starts after the authority, which may hold a `;` of its own.
    const scheme = target.indexOf('://');
    if (scheme < 0) return target;
    for (i = scheme + 3; i < target.length && !AUTHORITY_END.includes(target[i]!); i++);
  }
  for (; i < target.length; i++) {
    const code = target.charCodeAt(i);
    if (code === 63 /* ? */ || code === 35 /* # */) return target;
    if (code === 59 /* ; */) return `${target.slice(0, i)}?${target.slice(i + 1)}`;
  }
  return target;
}

const AUTHORITY_END = '/?#';

/**
 * A decoded path as a URL path Fastify's router reads as that path: when it takes a `;` as the
 * start of the query, a `;` in the path stays escaped.
 */
export function encodePathFor(path: string, semicolon: boolean): string {
  const encoded = encodePath(path);
  return semicolon ? encoded.replaceAll(';', '%3B') : encoded;
}
