import { analyzePolicy, ReplayReportSchema, replayWindow, WardenError } from '@warden/core';
import { replayTrail } from '@warden/engine';
import { z } from 'zod';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';

const SourceSchema = z.strictObject({
  path: z.string().min(1).max(500).meta({ description: 'A file name, shown in diagnostics.' }),
  text: z.string().max(1024 * 1024),
});

/** A policy as sent: one YAML text, or several files (a folder policy). */
export const PolicyInputSchema = z
  .union([
    z.strictObject({ text: z.string().max(1024 * 1024) }),
    z.strictObject({ sources: z.array(SourceSchema).min(1).max(200) }),
  ])
  .meta({ id: 'PolicyInput' });

const PolicyVersionSchema = z
  .object({
    version: z.string(),
    name: z.string(),
    mode: z.enum(['enforce', 'monitor']),
    sources: z.array(z.object({ path: z.string(), text: z.string() })),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .meta({ id: 'PolicyVersion' });

const DiagnosticSchema = z.object({ severity: z.string(), code: z.string(), message: z.string() }).loose();

function sourcesOf(input: z.infer<typeof PolicyInputSchema>) {
  return 'text' in input ? [{ path: 'policy.yaml', text: input.text }] : input.sources;
}

function analyze(input: z.infer<typeof PolicyInputSchema>) {
  const sources = sourcesOf(input);
  return { sources, ...analyzePolicy(sources.map((s) => ({ file: s.path, text: s.text }))) };
}

/** A replay: the candidate policy and which recorded calls to decide again under it. */
const ReplayBodySchema = z.strictObject({
  policy: PolicyInputSchema,
  since: z
    .string()
    .max(100)
    .optional()
    .meta({ description: 'Calls at or after: an age (7d, 12h), an ISO time or a date. Default 7d.' }),
  until: z
    .string()
    .max(100)
    .optional()
    .meta({ description: 'Calls before: an age, an ISO time or a date. Default now.' }),
  agent: z.string().min(1).max(200).optional().meta({ description: "Only this agent's calls." }),
  limit: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(100_000)
    .meta({ description: 'Recorded calls read at most; the report says complete: false when more remain.' }),
});

export const policyRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/policy',
    tag: 'policy',
    summary: 'The policy in force: version, name, mode and source text.',
    roles: ['approver', 'admin', 'auditor'],
    response: { status: 200, schema: PolicyVersionSchema },
    errors: ['POLICY_NOT_FOUND'],
    async handler({ ctx }) {
      const current = await ctx.engine.store.currentPolicy();
      if (!current || current.version !== ctx.engine.policy.version) {
        throw new WardenError(
          'POLICY_NOT_FOUND',
          `the policy in force (${ctx.engine.policy.version}) has no stored source yet; try again in a moment`,
        );
      }
      return current;
    },
  }),
  defineRoute({
    method: 'PUT',
    url: '/v1/policy',
    tag: 'policy',
    summary:
      'Replace the policy. It is compiled first (400 POLICY_INVALID lists every problem); the change is audited and reaches every instance.',
    roles: ['admin'],
    body: PolicyInputSchema,
    response: {
      status: 200,
      schema: z.object({
        oldVersion: z.string(),
        newVersion: z.string(),
        warnings: z.array(DiagnosticSchema),
      }),
    },
    errors: ['POLICY_INVALID'],
    async handler({ body, principal, ctx }) {
      const { sources, policy, diagnostics } = analyze(body);
      if (!policy) {
        const errors = diagnostics.filter((d) => d.severity === 'error');
        throw new WardenError('POLICY_INVALID', `the policy has ${errors.length} error(s); nothing changed`, {
          diagnostics: errors,
        });
      }
      const change = await ctx.engine.setPolicy(policy, actorOf(principal), sources);
      return { ...change, warnings: diagnostics.filter((d) => d.severity !== 'error') };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/policy/validate',
    tag: 'policy',
    summary: 'Compile and lint a policy without applying it.',
    roles: ['approver', 'admin', 'auditor'],
    body: PolicyInputSchema,
    response: {
      status: 200,
      schema: z.object({
        valid: z.boolean(),
        version: z.string().optional(),
        diagnostics: z.array(DiagnosticSchema),
      }),
    },
    async handler({ body }) {
      const { policy, diagnostics } = analyze(body);
      return { valid: policy !== undefined, ...(policy ? { version: policy.version } : {}), diagnostics };
    },
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/policy/replay',
    tag: 'policy',
    summary:
      'Decide the calls recorded in the audit trail again under a candidate policy and report every decision that would change, grouped, with counts. Reads only: nothing is applied or recorded.',
    roles: ['approver', 'admin', 'auditor'],
    body: ReplayBodySchema,
    response: { status: 200, schema: ReplayReportSchema },
    errors: ['POLICY_INVALID', 'QUERY_INVALID'],
    async handler({ body, ctx }) {
      const window = replayWindow({ since: body.since, until: body.until });
      const { policy, diagnostics } = analyze(body.policy);
      if (!policy) {
        const errors = diagnostics.filter((d) => d.severity === 'error');
        throw new WardenError(
          'POLICY_INVALID',
          `the policy has ${errors.length} error(s); nothing was replayed`,
          {
            diagnostics: errors,
          },
        );
      }
      return replayTrail(ctx.engine.store, policy, { ...window, agent: body.agent, limit: body.limit });
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/policy/versions',
    tag: 'policy',
    summary: 'Stored policy versions, newest first.',
    roles: ['approver', 'admin', 'auditor'],
    query: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    response: { status: 200, schema: z.object({ versions: z.array(PolicyVersionSchema) }) },
    handler: async ({ query, ctx }) => ({ versions: await ctx.engine.store.policyHistory(query.limit) }),
  }),
];
