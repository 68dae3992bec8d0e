/** How the README command test reads a README: sections, commands, files and markers. */
import { describe, expect, it } from 'vitest';
import { parseReadme } from './readme-blocks.js';

const fence = '```';

describe('parseReadme', () => {
  it('finds each command of the shell blocks under its heading, continuations joined, comments dropped', () => {
    const md = [
      '# Title',
      'prose `warden inline` is not a command',
      '## One',
      `${fence}sh`,
      '# a comment line',
      'npm run warden -- a   # trailing',
      'curl -s x \\',
      '  -d y',
      '',
      fence,
      `${fence}yaml`,
      'not: a command',
      fence,
      '## Two',
      `   ${fence}console`,
      '   $ echo hi',
      '   hi',
      `   ${fence}`,
    ].join('\n');
    const sections = parseReadme(md);
    expect(sections.map((s) => s.title)).toEqual(['One', 'Two']);
    const texts = sections.flatMap((s) =>
      s.steps.map((st) => (st.kind === 'command' ? st.command.text : '')),
    );
    expect(texts).toEqual(['npm run warden -- a   # trailing', 'curl -s x -d y', 'echo hi']);
    const first = sections[0]?.steps[0];
    expect(first?.kind === 'command' && first.command.line).toBe(6);
  });

  it('applies skip, expect-exit and file markers to the block right after them', () => {
    const md = [
      '## S',
      '<!-- readme-test: skip "b" (b needs a person) -->',
      '<!-- readme-test: expect-exit 1 "c" -->',
      `${fence}sh`,
      'a',
      'b',
      'c',
      fence,
      '  <!-- readme-test: file dir/x.yaml -->',
      `  ${fence}yaml`,
      '  k: v',
      `  ${fence}`,
      `${fence}sh`,
      'd',
      fence,
    ].join('\n');
    const steps = parseReadme(md)[0]?.steps ?? [];
    expect(
      steps.map((s) => (s.kind === 'command' ? [s.command.text, s.command.skip, s.command.expectExit] : s)),
    ).toEqual([
      ['a', undefined, 0],
      ['b', 'b needs a person', 0],
      ['c', undefined, 1],
      { kind: 'file', path: 'dir/x.yaml', content: 'k: v\n', line: 10 },
      ['d', undefined, 0],
    ]);
  });

  it('refuses a marker it does not know, one that is not followed by its block, and one that matches nothing', () => {
    expect(() => parseReadme(`<!-- readme-test: skipp (typo) -->\n${fence}sh\na\n${fence}`)).toThrow(
      /unknown readme-test marker/,
    );
    expect(() => parseReadme(`<!-- readme-test: skip (why) -->\nprose\n${fence}sh\na\n${fence}`)).toThrow(
      /right before/,
    );
    expect(() => parseReadme(`<!-- readme-test: skip "zzz" (why) -->\n${fence}sh\na\n${fence}`)).toThrow(
      /no command/,
    );
    expect(() => parseReadme(`<!-- readme-test: skip (why) -->\n${fence}yaml\na: 1\n${fence}`)).toThrow(
      /not a shell block/,
    );
    expect(() => parseReadme(`${fence}sh\na`)).toThrow(/never closes/);
  });
});
