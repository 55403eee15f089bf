import { isPlainPath, normalizePath, parseTarget } from '@ngi/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePathFor, pathAfter, prefixSegments, semicolonToQuery, splitPath } from '../src/_paths.ts';

describe('isPlainPath', () => {
  it('§3.3 §14.2 holds only for a target whose parsed path is its raw path, decoded and normal already', () => {
    const target = fc.array(fc.constantFrom('/', '.', '%', '2', 'F', 'a', '?', '%2F', '%41', '..'), { maxLength: 12 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(target, (t) => {
        if (!isPlainPath(t)) return;
        const parsed = parseTarget(t);
        expect(parsed.path).toBe(parsed.rawPath);
        expect(normalizePath(parsed.path)).toBe(parsed.path);
        expect(splitPath(parsed.rawPath, parsed.path, [])).toEqual(['', parsed.path]);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['/', true],
    ['/a/b?x=%zz&y=//', true],
    ['/.well-known', false],
    ['/a/../b', false],
    ['//a', false],
    ['/%61', false],
    ['*', false],
    ['http://host/a', false],
  ])('%j → %j', (target, plain) => {
    expect(isPlainPath(target)).toBe(plain);
  });
});

describe('splitPath', () => {
  it.each([
    ['/legacy', '/legacy/a', ['/legacy', '/a']],
    ['/legacy', '/LEGACY', ['/LEGACY', '']],
    ['/legacy', '/%6Cegacy/b', ['/legacy', '/b']],
    ['/legacy', '/legacyx', undefined],
    ['/tenant/:id', '/tenant/a%2Fb/orders', ['/tenant/a/b', '/orders']],
    ['/api/v:version', '/api/v2/users', ['/api/v2', '/users']],
    ['/t/:from-:to', '/t/1-2', ['/t/1-2', '']],
    ['/n/:id(^\\d+$)', '/n/7/x', ['/n/7', '/x']],
    ['/a::b', '/a:b/c', ['/a:b', '/c']],
    ['/a::b', '/ab/c', undefined],
    ['/x::', '/x:', ['/x:', '']],
  ] as const)('under %j, %j → %j', (prefix, rawPath, split) => {
    const path = parseTarget(rawPath).path;
    expect(splitPath(rawPath, path, prefixSegments(prefix))).toEqual(split);
  });
});

describe('pathAfter', () => {
  it.each([
    ['/a/b/c', 0, '/a/b/c'],
    ['/a/b/c', 1, '/b/c'],
    ['/a/b/', 2, '/'],
    ['/a/b', 2, ''],
    ['/a', 3, ''],
  ] as const)('%j after %j segments → %j', (path, count, rest) => {
    expect(pathAfter(path, count)).toBe(rest);
  });
});

describe('semicolonToQuery', () => {
  // As find-my-way splits a target when told to useSemicolonDelimiter (find-my-way#76).
  it.each([
    ['/a;x=1', '/a?x=1'],
    ['/a;x=1?y=2;z', '/a?x=1?y=2;z'],
    ['/a/b;c/d;e', '/a/b?c/d;e'],
    ['/a?x;y', '/a?x;y'],
    ['/a#f;x', '/a#f;x'],
    ['/;x', '/?x'],
    ['/a', '/a'],
    ['http://h;x/a;q=1', 'http://h;x/a?q=1'],
    ['http://h?a/b;c', 'http://h?a/b;c'],
    ['http://h;x', 'http://h;x'],
    ['*', '*'],
  ])('%j → %j', (target, rewritten) => {
    expect(semicolonToQuery(target)).toBe(rewritten);
  });
});

describe('encodePathFor', () => {
  it.each([
    ['/a;b c', false, '/a;b%20c'],
    ['/a;b c', true, '/a%3Bb%20c'],
    ['/a?b', true, '/a%3Fb'],
  ] as const)('%j (semicolon: %j) → %j', (path, semicolon, encoded) => {
    expect(encodePathFor(path, semicolon)).toBe(encoded);
  });
});
