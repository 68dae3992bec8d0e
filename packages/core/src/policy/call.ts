import { callNameSchema, columnIdSchema, ToolCallFields } from '@warden/api';
import { z } from 'zod';
import { invisibleCharacter } from '../approval/name-characters.js';
import { secretIn } from '../audit/secret-patterns.js';

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

/** Agent and tool names: the wire's character set (see @warden/api), and not a credential. */
const callName = (what: string, max: number) => callNameSchema(what, max).superRefine(notSecret(what));

/** An identifier stored in a query column (session, triggeredBy): the wire's rules, and not a credential. */
const columnId = (what: string) => columnIdSchema(what).superRefine(notSecret(what));

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

/** A tool call as Warden sees it. `agent` is bound to the caller's key upstream, never self-declared. */
export const ToolCallSchema = z.strictObject({
  agent: callName('agent', 200),
  tool: callName('tool', 500),
  args: ToolCallFields.args.optional(),
  session: columnId('session').optional(),
  target: ToolCallFields.target.optional(),
  labels: ToolCallFields.labels.optional(),
  triggeredBy: personName('triggeredBy').optional(),
  delegationChain: z
    .array(callName('delegationChain entries', 200))
    .max(ToolCallFields.maxDelegationChain)
    .optional(),
  now: z.coerce
    .date({ error: 'now must be an ISO 8601 time such as 2026-01-01T12:00:00Z' })
    .refine((d) => !Number.isNaN(d.getTime()), 'now must be an ISO 8601 time such as 2026-01-01T12:00:00Z')
    .optional(),
});

/** A validated tool call. */
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** The fields of a call the domain has rules for beyond the wire's. */
type CallFields = Partial<Record<'agent' | 'tool' | 'session' | 'triggeredBy', unknown>> & {
  readonly delegationChain?: unknown;
};

/**
 * The domain's rules for the fields of a call as the API receives it (a request body the wire's rules in
 * @warden/api already shape): no credential-looking ids, only visible characters in `triggeredBy`. The
 * server refines its request bodies with these, so such a call is refused before anything is recorded.
 */
export function callFieldIssues(call: CallFields): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const check = (schema: z.ZodType, value: unknown, path: (string | number)[]) => {
    if (typeof value !== 'string') return;
    const parsed = schema.safeParse(value);
    if (parsed.success) return;
    // Only the domain's own (custom) rules: the wire's are the request schema's to report.
    for (const issue of parsed.error.issues)
      if (issue.code === 'custom') issues.push({ path, message: issue.message });
  };
  check(DOMAIN.agent, call.agent, ['agent']);
  check(DOMAIN.tool, call.tool, ['tool']);
  check(DOMAIN.session, call.session, ['session']);
  check(DOMAIN.triggeredBy, call.triggeredBy, ['triggeredBy']);
  if (Array.isArray(call.delegationChain)) {
    call.delegationChain.forEach((entry, i) => {
      check(DOMAIN.delegationChain, entry, ['delegationChain', i]);
    });
  }
  return issues;
}

/** callFieldIssues as a Zod refinement of a request body holding a call's fields. */
export function refineCallFields(call: CallFields, ctx: z.RefinementCtx): void {
  for (const issue of callFieldIssues(call)) ctx.addIssue({ code: 'custom', ...issue });
}

const DOMAIN = {
  agent: ToolCallSchema.shape.agent,
  tool: ToolCallSchema.shape.tool,
  session: columnId('session'),
  triggeredBy: personName('triggeredBy'),
  delegationChain: callName('delegationChain entries', 200),
};
