import { describe, expect, it } from 'vitest';
import { compilePolicySources } from './policy-compiler.js';
import { toolReach } from './tool-visibility.js';

const mayEverRun = (...a: Parameters<typeof toolReach>) => toolReach(...a) === 'may';

const policy = (yaml: string) => compilePolicySources([{ file: 'policy.yaml', text: yaml }]);

const POLICY = `
name: visibility
agents:
  bot:
    groups: [readers]
    rules:
      - { id: allow-read, effect: allow, tools: ["fs.read*"] }
      - { id: review-write, effect: review, tools: ["fs.write"] }
      - { id: block-move, effect: block, tools: ["fs.move"] }
      - { id: block-big-delete, effect: block, tools: ["fs.delete"], when: "args.?count.orValue(0) > 10" }
      - { id: allow-delete, effect: allow, tools: ["fs.delete"] }
      - { id: block-all-env, effect: block, tools: ["env.*"] }
      - { id: allow-env-home, effect: allow, tools: ["env.home"] }
groups:
  readers:
    rules:
      - { id: group-list, effect: allow, tools: ["fs.list"] }
`;

describe('toolReach', () => {
  const p = policy(POLICY);
  it('shows what an allow or review rule names, through groups too', () => {
    expect(mayEverRun(p, 'bot', 'fs.read_text')).toBe(true);
    expect(mayEverRun(p, 'bot', 'fs.write')).toBe(true);
    expect(mayEverRun(p, 'bot', 'fs.list')).toBe(true);
  });
  it('hides an unconditional block, even when an allow rule also names the tool', () => {
    expect(mayEverRun(p, 'bot', 'fs.move')).toBe(false);
    expect(mayEverRun(p, 'bot', 'env.home')).toBe(false);
  });
  it('a conditional block leaves the tool visible: some calls may pass', () => {
    expect(mayEverRun(p, 'bot', 'fs.delete')).toBe(true);
  });
  it('hides what no rule names under a default of block, and agents the policy does not know', () => {
    expect(mayEverRun(p, 'bot', 'fs.chmod')).toBe(false);
    expect(mayEverRun(p, 'stranger', 'fs.read_text')).toBe(false);
  });
  it('a default of allow or review shows unnamed tools; monitor mode shows everything', () => {
    const open = policy(
      `name: open\ndefaults: { decision: review }\nagents:\n  bot:\n    rules:\n      - { id: b, effect: block, tools: [x] }\n`,
    );
    expect(mayEverRun(open, 'bot', 'anything')).toBe(true);
    expect(mayEverRun(open, 'bot', 'x')).toBe(false);
    const monitor = policy(
      `name: m\nmode: monitor\nagents:\n  bot:\n    rules:\n      - { id: b, effect: block, tools: [x] }\n`,
    );
    expect(mayEverRun(monitor, 'bot', 'x')).toBe(true);
  });
  it('tells a block rule from a tool no rule names (only the latter can be granted)', () => {
    expect(toolReach(p, 'bot', 'fs.move')).toBe('blocked');
    expect(toolReach(p, 'bot', 'fs.chmod')).toBe('unnamed');
    expect(toolReach(p, 'bot', 'fs.write')).toBe('may');
  });
});
