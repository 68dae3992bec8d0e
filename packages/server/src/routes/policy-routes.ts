import {
  PolicyChangeSchema,
  type PolicyInput,
  PolicyInputSchema,
  PolicyValidationSchema,
  PolicyVersionListSchema,
  PolicyVersionSchema,
  PolicyVersionsQuerySchema,
  ReplayReportSchema,
  ReplayRequestSchema,
} from '@warden/api';
import { analyzePolicy, replayWindow, WardenError } from '@warden/core';
import { replayTrail } from '@warden/engine';
import { actorOf } from '../auth/principal.js';
import { defineRoute } from '../http/route-spec.js';

function sourcesOf(input: PolicyInput) {
  return 'text' in input ? [{ path: 'policy.yaml', text: input.text }] : input.sources;
}

function analyze(input: PolicyInput) {
  const sources = sourcesOf(input);
  return { sources, ...analyzePolicy(sources.map((s) => ({ file: s.path, text: s.text }))) };
}

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
    response: { status: 200, schema: PolicyChangeSchema },
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
    response: { status: 200, schema: PolicyValidationSchema },
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
    body: ReplayRequestSchema,
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
    query: PolicyVersionsQuerySchema,
    response: { status: 200, schema: PolicyVersionListSchema },
    handler: async ({ query, ctx }) => ({ versions: await ctx.engine.store.policyHistory(query.limit) }),
  }),
];
