import { z } from 'zod';
import { invisibleCharacter } from '../approval/name-characters.js';
import { secretIn } from '../audit/secret-patterns.js';

/**
 * Agent and tool names: letters, digits and `_ . : @ / -`, case-sensitive. Whitespace, control and
 * look-alike characters are refused rather than matched, so `"db.drop "` cannot slip past a rule that
 * blocks `db.drop`.
 */
const CALL_NAME = /^[A-Za-z0-9_.:@/-]+$/;
/**
 * Ids a caller chooses are stored and matched as they are, so they cannot be redacted (a redacted session id
 * would merge sessions): one that looks like a credential is refused instead, naming the field.
 */
const notSecret = (what: string) => (v: string, ctx: z.RefinementCtx) => {
  const kind = v.length >= 8 ? secretIn(v) : undefined;
  if (kind !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${what} looks like a credential (${kind}); use an id that is not a secret`,
    });
  }
};

const callName = (what: string, max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(CALL_NAME, `${what} may only contain letters, digits and _ . : @ / -`)
    .superRefine(notSecret(what));

const MAX_ARG_DEPTH = 32;

/** A JSON object, refused when any key at any depth is `__proto__` (it would be dropped or alter lookups). */
function isSafeObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const stack: { v: unknown; depth: number }[] = [{ v, depth: 0 }];
  while (stack.length > 0) {
    const { v: cur, depth } = stack.pop() as { v: unknown; depth: number };
    if (typeof cur !== 'object' || cur === null) continue;
    if (depth > MAX_ARG_DEPTH) return false;
    for (const key of Object.keys(cur)) {
      if (key === '__proto__') return false;
      stack.push({ v: (cur as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return true;
}

const args = z.custom<Record<string, unknown>>(isSafeObject, {
  message: `args must be a JSON object, nested at most ${MAX_ARG_DEPTH} deep, with no "__proto__" keys`,
});
/**
 * Label sizes: labels go into every audit event and (under a tag budget) a budget scope key, and each stored
 * text is scanned for secrets, so a caller cannot make one call cost megabytes of storage and scanning.
 */
export const MAX_LABEL_KEY = 128;
export const MAX_LABEL_VALUE = 1024;
const labels = z
  .custom<Record<string, string>>(
    (v) => isSafeObject(v) && Object.values(v).every((x) => typeof x === 'string'),
    { message: 'labels must be an object of strings, with no "__proto__" key' },
  )
  .superRefine((v, ctx) => {
    for (const [key, value] of Object.entries(v)) {
      if (key.length > MAX_LABEL_KEY) {
        ctx.addIssue({
          code: 'custom',
          message: `label name "${key.slice(0, 20)}…" is longer than ${MAX_LABEL_KEY} characters`,
        });
      } else if (value.length > MAX_LABEL_VALUE) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `label "${key}" is longer than ${MAX_LABEL_VALUE} characters`,
        });
      }
    }
  });

/** A tool call as Warden sees it. `agent` is bound to the caller's key upstream, never self-declared. */
/**
 * An identifier stored in a query column (session, triggeredBy): text without control characters, which
 * PostgreSQL cannot store (U+0000) and which have no place in an id a person reads.
 */
const columnId = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(200)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
    .regex(/^[^\u0000-\u001f\u007f]*$/, `${what} must not contain control characters`)
    .superRefine(notSecret(what));

/**
 * The name of the person or job that started a task. Separation of duties compares it with the names of
 * deciders, and people read it, so every character must be one a reader sees: no controls (C0, DEL or
 * C1 such as U+0085, which a latin1 header can carry), format or private-use characters, unassigned code
 * points, nor blank look-alikes such as U+2800. Spaces stay allowed (`Tom Smith`).
 */
const personName = (what: string) =>
  columnId(what).superRefine((name, ctx) => {
    const bad = invisibleCharacter(name);
    if (bad !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} must contain only visible characters; it contains ${bad}`,
      });
    }
  });

export const ToolCallSchema = z.strictObject({
  agent: callName('agent', 200),
  tool: callName('tool', 500),
  args: args.optional(),
  session: columnId('session').optional(),
  target: z.string().max(500).optional(),
  labels: labels.optional(),
  triggeredBy: personName('triggeredBy').optional(),
  delegationChain: z.array(callName('delegationChain entries', 200)).max(64).optional(),
  now: z.coerce
    .date({ error: 'now must be an ISO 8601 time such as 2026-01-01T12:00:00Z' })
    .refine((d) => !Number.isNaN(d.getTime()), 'now must be an ISO 8601 time such as 2026-01-01T12:00:00Z')
    .optional(),
});

/** A validated tool call. */
export type ToolCall = z.infer<typeof ToolCallSchema>;
