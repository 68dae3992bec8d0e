import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CelContext, celEnvironment, compileCondition, isConditionProblem } from './cel-condition.js';
import { compileFastPath } from './cel-fast-path.js';

/** Interpreter only: the reference the fast path must agree with. */
function interpret(source: string, ctx: CelContext): boolean | 'error' {
  try {
    const v = (celEnvironment().parse(source) as unknown as (c: CelContext) => unknown)(ctx);
    return typeof v === 'boolean' ? v : 'error';
  } catch {
    return 'error';
  }
}

function fastOf(source: string) {
  return compileFastPath((celEnvironment().parse(source) as unknown as { ast: never }).ast);
}

const KEYS = ['amount', 'env', 'flag', 'name'] as const;
// Values and literals share a few numbers, so boundaries (equal values) come up often.
const literal = fc.oneof(
  fc.constantFrom('0', '5', '100', '-1', '5.0', '100.5'),
  fc.integer({ min: -5, max: 200 }).map(String),
  fc
    .double({ min: -5, max: 200, noNaN: true, noDefaultInfinity: true })
    .map((d) => (Number.isInteger(d) ? `${d}.0` : String(d))),
  fc.constantFrom('"prod"', '"staging"', '""', '"pro"', 'true', 'false', '9007199254740993'),
);
const operand = fc.oneof(
  fc.constantFrom(...KEYS).map((k) => `args.${k}`),
  fc.constantFrom('tool', 'agent', 'target'),
);
const comparison = fc
  .tuple(operand, fc.constantFrom('==', '!=', '<', '<=', '>', '>='), literal)
  .map(([a, op, b]) => `${a} ${op} ${b}`);
const call = fc
  .tuple(
    operand,
    fc.constantFrom('startsWith', 'endsWith', 'contains'),
    fc.constantFrom('"pr"', '"od"', '""', '"x"'),
  )
  .map(([a, m, b]) => `${a}.${m}(${b})`);
const membership = operand.map((a) => `${a} in ["prod", "staging"]`);
const atom = fc.oneof(comparison, call, membership);
const condition: fc.Arbitrary<string> = fc.letrec<{ cond: string }>((tie) => ({
  cond: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc
      .tuple(tie('cond'), fc.constantFrom('&&', '||'), tie('cond'))
      .map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('cond').map((a) => `!(${a})`),
  ),
})).cond;

const value = fc.oneof(
  fc.constantFrom(0, 5, 100, -1, 100.5, -0),
  fc.integer({ min: -5, max: 200 }),
  fc.double({ noDefaultInfinity: false }),
  fc.constantFrom('prod', 'staging', 'production', '', 'x', true, false, null, 10n, Number.NaN),
  fc.array(fc.string(), { maxLength: 2 }),
);
const context = fc.record({
  args: fc.oneof(
    fc.dictionary(fc.constantFrom(...KEYS), value),
    fc.dictionary(fc.constantFrom(...KEYS), value).map((o) => new Map(Object.entries(o))),
  ),
  tool: fc.constantFrom('db.query', 'prod.x', ''),
  agent: fc.constantFrom('bot', 'prod-bot'),
  target: fc.constantFrom('', 'prod-eu'),
});

function ctxOf(c: { args: unknown; tool: string; agent: string; target: string }): CelContext {
  return { ...c, session: '', labels: {}, triggeredBy: '', delegationChain: [], now: new Date(0) };
}

describe('CEL fast path', () => {
  it('compiles the common shapes and declines the rest', () => {
    expect(fastOf('args.amount > 100 && tool.startsWith("db.")')).toBeTypeOf('function');
    expect(fastOf('args.env in ["prod", "staging"] || !(args.flag == true)')).toBeTypeOf('function');
    expect(fastOf('size(delegationChain) > 0')).toBeUndefined();
    expect(fastOf('args.a.b == 1')).toBeUndefined();
    expect(fastOf('tool < "m"')).toBeUndefined();
  });

  it('agrees with the interpreter whenever it answers, on random conditions and inputs', () => {
    let answered = 0;
    let total = 0;
    let compiled = 0;
    let conditions = 0;
    fc.assert(
      fc.property(condition, fc.array(context, { minLength: 1, maxLength: 8 }), (source, ctxs) => {
        // Policies only ever hold conditions that type-check (compileCondition rejects the rest).
        fc.pre(celEnvironment().check(source).valid);
        const fast = fastOf(source);
        conditions++;
        if (fast) compiled++;
        for (const raw of ctxs) {
          const ctx = ctxOf(raw);
          total++;
          const f = fast?.(ctx);
          if (f === undefined) continue;
          answered++;
          expect(
            f,
            `${source} on ${JSON.stringify(raw, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))}`,
          ).toBe(interpret(source, ctx));
        }
      }),
      { numRuns: 3000, maxSkipsPerRun: 100 },
    );
    // The property is only meaningful if the fast path actually answers a good share of the time.
    expect(compiled / conditions).toBeGreaterThan(0.3);
    expect(answered / total).toBeGreaterThan(0.1);
  });

  it('a compiled condition gives the same answer and the same errors as the interpreter', () => {
    const c = compileCondition('args.amount > 100');
    if (isConditionProblem(c)) throw new Error(c.message);
    expect(c.run(ctxOf({ args: { amount: 150 }, tool: 't', agent: 'a', target: '' }))).toBe(true);
    const missing = c.run(ctxOf({ args: {}, tool: 't', agent: 'a', target: '' }));
    expect(missing).toBeInstanceOf(Error);
    expect((missing as Error).message).toMatch(/No such key: amount/);
  });
});
