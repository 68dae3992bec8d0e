import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isWardenError } from '../errors/warden-error.js';
import { analyzePolicy, compilePolicy } from './policy-compiler.js';
import { evaluate } from './policy-evaluator.js';
import { EFFECTS } from './policy-schema.js';

const SAMPLE = `
targets:
  prod: { tools: ["db.*"], when: 'args.?env.orValue("") == "prod"' }
agents:
  "*":
    rules:
      - { id: w, effect: block, tools: "vault.*" }
  bot:
    rules:
      - { id: a, effect: allow, tools: ["db.*", "docs.read"] }
      - { id: r, effect: review, tools: "db.*", targets: [prod] }
      - { id: b, effect: block, tools: db.query, when: 'args.rows > 10' }
`;

describe('parser fuzzing', () => {
  it('never throws on arbitrary text: it returns diagnostics or a policy', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const { policy, diagnostics } = analyzePolicy([{ file: 'f.yaml', text }]);
        expect(policy !== undefined || diagnostics.some((d) => d.severity === 'error')).toBe(true);
        for (const d of diagnostics) {
          expect(d.line).toBeGreaterThanOrEqual(1);
          expect(d.col).toBeGreaterThanOrEqual(1);
          expect(d.message).not.toMatch(/\n\s+at /);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on mutated real policies (random edits of a valid file)', () => {
    fc.assert(
      fc.property(fc.nat(SAMPLE.length), fc.nat(20), fc.string({ maxLength: 8 }), (at, del, insert) => {
        const text = SAMPLE.slice(0, at) + insert + SAMPLE.slice(at + del);
        expect(() => analyzePolicy([{ file: 'f.yaml', text }])).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary JSON-shaped documents', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = stringify({ agents: { bot: value } });
        expect(() => analyzePolicy([{ file: 'f.yaml', text }])).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('compilePolicy only ever throws POLICY_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          compilePolicy(text);
        } catch (err) {
          expect(isWardenError(err, 'POLICY_INVALID')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('evaluator fuzzing', () => {
  const policy = compilePolicy(SAMPLE);
  const callArb = fc.record({
    agent: fc.oneof(fc.constantFrom('bot', 'other', '*'), fc.string({ minLength: 1, maxLength: 20 })),
    tool: fc.oneof(
      fc.constantFrom('db.query', 'db.exec', 'docs.read', 'vault.read'),
      fc.string({ minLength: 1, maxLength: 20 }),
    ),
    args: fc.dictionary(
      fc.constantFrom('env', 'rows', 'x', '__proto__', 'constructor'),
      fc.jsonValue({ maxDepth: 3 }),
    ),
  });

  it('always returns a well-formed decision, deterministically', () => {
    fc.assert(
      fc.property(callArb, (call) => {
        const d = evaluate(policy, call as never);
        expect(EFFECTS).toContain(d.effect);
        expect(d.ruleId === null || d.matchedRuleIds[0] === d.ruleId).toBe(true);
        expect(d.reasons.length).toBeGreaterThan(0);
        expect(evaluate(policy, call as never)).toEqual(d);
      }),
      { numRuns: 2000 },
    );
  });

  it('deny-overrides: the vault block holds whatever else the call carries', () => {
    fc.assert(
      fc.property(callArb, fc.string(), (call, suffix) => {
        const d = evaluate(policy, { ...call, tool: `vault.${suffix}` } as never);
        expect(d.effect).toBe('block');
        expect(d.ruleId).toBe('w');
      }),
      { numRuns: 500 },
    );
  });

  it('an unknown agent is never allowed anything (the sample has no wildcard allow)', () => {
    fc.assert(
      fc.property(callArb, (call) => {
        fc.pre(call.agent !== 'bot');
        expect(evaluate(policy, call as never).effect).toBe('block');
      }),
      { numRuns: 1000 },
    );
  });
});
