import { describe, expect, it } from 'vitest';
import { compileGlob, globCovers } from './glob.js';

describe('compileGlob', () => {
  it.each([
    ['*', 'anything.at.all', true],
    ['db.*', 'db.query', true],
    ['db.*', 'db.admin.drop', true],
    ['db.*', 'dbx.query', false],
    ['db.query', 'db.query', true],
    ['db.query', 'db.querys', false],
    ['*.read', 'tickets.read', true],
    ['*.read', 'tickets.reader', false],
    ['github.{pulls,issues}.create', 'github.issues.create', true],
    ['github.{pulls,issues}.create', 'github.repos.create', false],
    ['db.quer?', 'db.query', true],
    ['a+b(c)', 'a+b(c)', true],
    ['a.b', 'axb', false],
  ])('%s matches %s: %s', (glob, name, expected) => {
    expect(compileGlob(glob)(name)).toBe(expected);
  });

  it('rejects an unbalanced brace with a message naming the glob', () => {
    expect(() => compileGlob('db.{a,b')).toThrow(/unbalanced "\{" in glob "db.\{a,b"/);
  });
});

describe('globCovers', () => {
  it('knows * and prefixes cover narrower globs, and never claims more', () => {
    expect(globCovers('*', 'db.*')).toBe(true);
    expect(globCovers('db.*', 'db.admin.*')).toBe(true);
    expect(globCovers('db.*', 'db.query')).toBe(true);
    expect(globCovers('db.query', 'db.*')).toBe(false);
    expect(globCovers('db.*', 'sql.*')).toBe(false);
  });
});

describe('glob matching cost', () => {
  it('stays linear on patterns that make backtracking regular expressions explode', () => {
    const m = compileGlob('*a*a*a*a*a*a*b');
    const name = 'a'.repeat(5_000);
    // A backtracking RegExp would run for hours here (the test would hit its timeout); this returns at once.
    expect(m(name)).toBe(false);
    expect(m(`${name}b`)).toBe(true);
  });

  it('expands nested braces and refuses explosive ones', () => {
    expect(compileGlob('a.{b,c.{d,e}}')('a.c.e')).toBe(true);
    expect(compileGlob('a.{b,c.{d,e}}')('a.c')).toBe(false);
    expect(() => compileGlob('{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}')).toThrow(
      /more than 256 alternatives/,
    );
  });
});
