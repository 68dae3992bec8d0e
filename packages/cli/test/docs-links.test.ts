/**
 * Every relative link of the README and of docs/ reaches a file, and every `#anchor` a heading of the
 * page it points at (slugged as GitHub renders headings), so moving text between pages cannot leave a
 * reader at a dead end.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../server/test-support/serve-process.js';

const PAGES = [
  'README.md',
  ...readdirSync(join(REPO, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`),
];

describe('links of the README and docs/', () => {
  it('slugs headings as GitHub does', () => {
    expect(
      anchorsOf('## Run the repository: the two commands\n## `warden serve` and its API\n## A\n## A'),
    ).toEqual(new Set(['run-the-repository-the-two-commands', 'warden-serve-and-its-api', 'a', 'a-1']));
  });

  for (const page of PAGES) {
    it(`${page}: every relative link and anchor resolves`, () => {
      const text = readFileSync(join(REPO, page), 'utf8');
      const broken: string[] = [];
      for (const { target, line } of linksOf(text)) {
        if (/^[a-z]+:/i.test(target)) continue;
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const path = file === '' ? join(REPO, page) : resolve(dirname(join(REPO, page)), file);
        if (!existsSync(path)) {
          broken.push(`line ${line}: ${target} (no ${relative(REPO, path)})`);
          continue;
        }
        if (anchor && path.endsWith('.md') && !anchorsOf(readFileSync(path, 'utf8')).has(anchor)) {
          broken.push(`line ${line}: ${target} (no heading #${anchor} in ${relative(REPO, path)})`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});

/** The `[text](target)` links outside fenced blocks, with their lines. */
function linksOf(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let fenced = false;
  for (const [i, line] of markdown.split('\n').entries()) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) out.push({ target: m[1] as string, line: i + 1 });
  }
  return out;
}

/** The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const slug = (heading[1] as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}
