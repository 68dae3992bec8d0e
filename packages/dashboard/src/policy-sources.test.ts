import { describe, expect, it } from 'vitest';
import { hunks, lineDiff } from './line-diff.js';
import { policyInput, policyText } from './policy-sources.js';

describe('policy text in the editor', () => {
  it('round-trips a policy of several files through one text', () => {
    const sources = [
      { path: 'policy.yaml', text: 'warden: 1\nname: acme\n' },
      { path: 'support.yaml', text: 'agents:\n  bot: {}\n' },
    ];
    const text = policyText({ sources });
    expect(text).toBe('# ── policy.yaml\nwarden: 1\nname: acme\n\n# ── support.yaml\nagents:\n  bot: {}\n');
    expect(policyInput(text)).toEqual({
      sources: [
        { path: 'policy.yaml', text: 'warden: 1\nname: acme\n' },
        { path: 'support.yaml', text: 'agents:\n  bot: {}\n' },
      ],
    });
  });

  it('sends one file as text, and text before any header as one file', () => {
    expect(policyText({ sources: [{ path: 'p.yaml', text: 'warden: 1\n' }] })).toBe('warden: 1\n');
    expect(policyInput('warden: 1\n')).toEqual({ text: 'warden: 1\n' });
    expect(policyInput('warden: 1\n# ── other.yaml\nx: 1')).toEqual({
      text: 'warden: 1\n# ── other.yaml\nx: 1',
    });
  });
});

describe('lineDiff', () => {
  it('marks added and removed lines and keeps the rest', () => {
    const diff = lineDiff('a\nb\nc\nd', 'a\nc\nd\ne');
    expect(diff).toEqual([
      { kind: ' ', text: 'a' },
      { kind: '-', text: 'b' },
      { kind: ' ', text: 'c' },
      { kind: ' ', text: 'd' },
      { kind: '+', text: 'e' },
    ]);
  });

  it('shows changes with context and gaps between them', () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    const after = before.replace('line 2\n', 'line two\n').replace('line 17\n', 'line seventeen\n');
    const shown = hunks(lineDiff(before, after) ?? [], 1);
    expect(shown.map((l) => (l ? `${l.kind}${l.text}` : '…'))).toEqual([
      ' line 1',
      '-line 2',
      '+line two',
      ' line 3',
      '…',
      ' line 16',
      '-line 17',
      '+line seventeen',
      ' line 18',
    ]);
  });

  it('declines texts too large to diff here', () => {
    const big = (p: string) => Array.from({ length: 3_000 }, (_, i) => `${p}${i}`).join('\n');
    expect(lineDiff(big('a'), big('b'))).toBeUndefined();
  });
});
