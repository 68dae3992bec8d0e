import { type ASTNode, Environment, ParseError } from '@marcbachmann/cel-js';
import { compileFastPath } from './cel-fast-path.js';
import { didYouMean } from './did-you-mean.js';

/** The names a CEL condition can use, with their CEL types. This is the whole call as policies see it. */
export const CEL_VARIABLES = {
  agent: 'string',
  session: 'string',
  tool: 'string',
  args: 'map',
  target: 'string',
  labels: 'map<string, string>',
  triggeredBy: 'string',
  delegationChain: 'list<string>',
  now: 'google.protobuf.Timestamp',
} as const;

/** The evaluation context handed to compiled conditions. */
export type CelContext = { readonly [K in keyof typeof CEL_VARIABLES]: unknown };

/** A compiled condition: call it with a context, get a boolean or an error. */
export interface Condition {
  readonly source: string;
  readonly usesNow: boolean;
  /** The value when the condition reads nothing from the call (e.g. `false`, `1 > 2`); undefined otherwise. */
  readonly constant: boolean | undefined;
  /** Evaluates; returns true/false, or an Error when evaluation failed or did not yield a bool. */
  run(ctx: CelContext): boolean | Error;
}

/** Why a condition failed to compile, and where in its source (0-based offset). */
export interface ConditionProblem {
  readonly kind: 'CEL_SYNTAX' | 'CEL_UNKNOWN_VARIABLE' | 'CEL_TYPE';
  readonly message: string;
  readonly offset: number;
}

let env: Environment | undefined;

/** The one CEL environment every condition is compiled in (exported for equivalence tests). */
export function celEnvironment(): Environment {
  if (!env) {
    env = new Environment({
      enableOptionalTypes: true,
      homogeneousAggregateLiterals: false,
      limits: { maxDepth: 64, maxAstNodes: 5000 },
    });
    for (const [name, type] of Object.entries(CEL_VARIABLES)) {
      env.registerVariable(name, type);
    }
  }
  return env;
}

const MAX_CONDITION_LENGTH = 4096;

/** Parses and type-checks a condition once. Never throws. */
export function compileCondition(source: string): Condition | ConditionProblem {
  if (source.length > MAX_CONDITION_LENGTH) {
    return {
      kind: 'CEL_SYNTAX',
      message: `condition is ${source.length} characters; the limit is ${MAX_CONDITION_LENGTH}`,
      offset: 0,
    };
  }
  const e = celEnvironment();
  let check: ReturnType<Environment['check']>;
  try {
    check = e.check(source);
  } catch (err) {
    return problemFrom(err, 'CEL_SYNTAX');
  }
  if (!check.valid) return problemFrom(check.error, 'CEL_TYPE');
  const type = String(check.type);
  if (type !== 'bool' && type !== 'dyn') {
    return { kind: 'CEL_TYPE', message: `condition must be a bool, but it is ${type}`, offset: 0 };
  }
  let fn: ((ctx: CelContext) => unknown) & { ast?: ASTNode };
  try {
    fn = e.parse(source) as unknown as typeof fn;
  } catch (err) {
    return problemFrom(err, 'CEL_SYNTAX');
  }
  const badRegex = findBadRegex(fn.ast);
  if (badRegex) return badRegex;
  const fast = fn.ast ? compileFastPath(fn.ast) : undefined;
  const condition: Condition = {
    source,
    usesNow: /\bnow\b/.test(source),
    constant: undefined,
    run(ctx) {
      if (fast !== undefined) {
        const r = fast(ctx);
        if (r !== undefined) return r;
      }
      try {
        const v = fn(ctx);
        return typeof v === 'boolean' ? v : new Error(`condition returned ${typeof v}, not a bool`);
      } catch (err) {
        return err instanceof Error ? new Error(firstLine(err.message)) : new Error(String(err));
      }
    },
  };
  return READS_CALL.test(source) ? condition : { ...condition, constant: asConstant(condition) };
}

const READS_CALL = new RegExp(`\\b(${Object.keys(CEL_VARIABLES).join('|')})\\b`);

function asConstant(c: Condition): boolean | undefined {
  const ctx = Object.fromEntries(Object.keys(CEL_VARIABLES).map((k) => [k, null])) as unknown as CelContext;
  const v = c.run(ctx);
  return typeof v === 'boolean' ? v : undefined;
}

/** True when compileCondition returned a problem. */
export function isConditionProblem(c: Condition | ConditionProblem): c is ConditionProblem {
  return 'kind' in c;
}

function problemFrom(err: unknown, fallback: ConditionProblem['kind']): ConditionProblem {
  const e = (err ?? {}) as { message?: string; range?: { start?: number }; code?: string };
  const message = firstLine(e.message ?? String(err));
  const offset = e.range?.start ?? 0;
  if (/^Unknown variable/i.test(message))
    return {
      kind: 'CEL_UNKNOWN_VARIABLE',
      message: `${message}${didYouMean(/Unknown variable: (\w+)/.exec(message)?.[1] ?? '', Object.keys(CEL_VARIABLES))} (known: ${Object.keys(CEL_VARIABLES).join(', ')})`,
      offset,
    };
  if (err instanceof ParseError) return { kind: 'CEL_SYNTAX', message, offset };
  return { kind: fallback, message, offset };
}

interface AstNode {
  readonly op: string;
  readonly args: unknown;
  readonly start?: number;
}

function isAstNode(v: unknown): v is AstNode {
  return typeof v === 'object' && v !== null && 'op' in v && 'args' in v;
}

/**
 * Literal patterns given to matches() (as `x.matches("…")` or `matches(x, "…")`, any quoting) are compiled
 * now, so a bad one fails lint instead of erroring on every call.
 */
function findBadRegex(ast: unknown): ConditionProblem | undefined {
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (!isAstNode(v)) continue;
    if ((v.op === 'rcall' || v.op === 'call') && Array.isArray(v.args) && v.args[0] === 'matches') {
      const params = (v.op === 'rcall' ? v.args[2] : v.args[1]) as unknown[];
      const pattern = params?.at(-1);
      if (isAstNode(pattern) && pattern.op === 'value' && typeof pattern.args === 'string') {
        try {
          new RegExp(pattern.args);
        } catch (err) {
          const hint = pattern.args.includes('(?i)')
            ? '; for case-insensitive matching write x.lowerAscii().matches("…")'
            : '';
          return {
            kind: 'CEL_SYNTAX',
            message: `${firstLine((err as Error).message)}${hint}`,
            offset: pattern.start ?? 0,
          };
        }
      }
    }
    stack.push(v.args);
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
