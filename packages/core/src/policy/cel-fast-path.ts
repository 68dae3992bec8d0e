import type { ASTNode } from '@marcbachmann/cel-js';
import type { CelContext } from './cel-condition.js';

/*
 * The fast path for CEL conditions. Most policy conditions compare call fields with literals, joined by
 * && || !; those compile to plain closures, an order of magnitude faster than the interpreter. A closure
 * returns undefined whenever it is not certain to give the interpreter's answer (a missing key, a value of
 * another type, anything unusual), and the interpreter then evaluates the whole condition, so results and
 * error messages never change. cel-fast-path.test.ts checks that equivalence on random inputs.
 */

export type FastCondition = (ctx: CelContext) => boolean | undefined;
type FastOperand = (ctx: CelContext) => unknown;

/** Returned by an operand that cannot be read with certainty (e.g. a missing key: the interpreter errors). */
const UNSURE: unique symbol = Symbol('unsure');
const STRING_VARIABLES = new Set(['agent', 'session', 'tool', 'target', 'triggeredBy']);
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface Node {
  readonly op: string;
  readonly args: unknown;
}

/** `tool`, `agent`, … or `args.<key>`; values other than strings, booleans and finite numbers are UNSURE. */
function fastOperand(n: Node): FastOperand | undefined {
  if (n.op === 'id' && typeof n.args === 'string' && STRING_VARIABLES.has(n.args)) {
    const name = n.args as keyof CelContext;
    return (ctx) => {
      const v = ctx[name];
      return typeof v === 'string' ? v : UNSURE;
    };
  }
  if (n.op === '.') {
    const [obj, key] = n.args as [Node, string];
    if (obj.op !== 'id' || obj.args !== 'args' || typeof key !== 'string') return undefined;
    return (ctx) => {
      const a = ctx.args;
      if (typeof a !== 'object' || a === null || a instanceof Map || !Object.hasOwn(a, key)) return UNSURE;
      const v = (a as Record<string, unknown>)[key];
      return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))
        ? v
        : UNSURE;
    };
  }
  return undefined;
}

/** A string, bool, double or int (within ±2^53) literal, as a JS value; undefined for anything else. */
function fastLiteral(n: Node): string | boolean | number | undefined {
  if (n.op !== 'value') return undefined;
  const v = n.args;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint' && v <= MAX_SAFE && v >= -MAX_SAFE) return Number(v);
  return undefined;
}

/** Compiles a condition to a closure when every node is on the fast path; undefined otherwise. */
export function compileFastPath(ast: ASTNode): FastCondition | undefined {
  return compileNode(ast as unknown as Node);
}

function compileNode(n: Node): FastCondition | undefined {
  switch (n.op) {
    case '&&':
    case '||': {
      const [l, r] = n.args as [Node, Node];
      const left = compileNode(l);
      const right = compileNode(r);
      if (!left || !right) return undefined;
      const and = n.op === '&&';
      return (ctx) => {
        const a = left(ctx);
        if (a === undefined) return undefined;
        if (a !== and) return a; // false && …, true || …: short-circuit, as CEL does
        return right(ctx);
      };
    }
    case '!_': {
      const inner = compileNode(n.args as Node);
      if (!inner) return undefined;
      return (ctx) => {
        const a = inner(ctx);
        return a === undefined ? undefined : !a;
      };
    }
    case 'in': {
      const [l, r] = n.args as [Node, Node];
      const value = fastOperand(l);
      const items = r.op === 'list' ? (r.args as Node[]).map(fastLiteral) : undefined;
      if (!value || !items?.every((x) => typeof x === 'string')) return undefined;
      const set = new Set(items);
      return (ctx) => {
        const v = value(ctx);
        return typeof v === 'string' ? set.has(v) : undefined;
      };
    }
    case 'rcall': {
      const [name, recv, params] = n.args as [string, Node, Node[]];
      const value = fastOperand(recv);
      const arg = params.length === 1 && params[0] ? fastLiteral(params[0]) : undefined;
      if (!value || typeof arg !== 'string') return undefined;
      const test =
        name === 'startsWith'
          ? (v: string) => v.startsWith(arg)
          : name === 'endsWith'
            ? (v: string) => v.endsWith(arg)
            : name === 'contains'
              ? (v: string) => v.includes(arg)
              : undefined;
      if (!test) return undefined;
      return (ctx) => {
        const v = value(ctx);
        return typeof v === 'string' ? test(v) : undefined;
      };
    }
    default: {
      if (!COMPARISONS.has(n.op)) return undefined;
      const [l, r] = n.args as [Node, Node];
      const value = fastOperand(l);
      const lit = fastLiteral(r);
      if (!value || lit === undefined) return undefined;
      const type = typeof lit;
      // Ordering is only taken for numbers (string ordering is by code point in CEL, by UTF-16 unit in JS).
      if (type !== 'number' && n.op !== '==' && n.op !== '!=') return undefined;
      const cmp = comparison(n.op, lit);
      return (ctx) => {
        const v = value(ctx);
        return typeof v === type ? cmp(v as typeof lit) : undefined;
      };
    }
  }
}

function comparison(op: string, lit: string | boolean | number): (v: string | boolean | number) => boolean {
  switch (op) {
    case '==':
      return (v) => v === lit;
    case '!=':
      return (v) => v !== lit;
    case '<':
      return (v) => v < lit;
    case '<=':
      return (v) => v <= lit;
    case '>':
      return (v) => v > lit;
    default:
      return (v) => v >= lit;
  }
}
