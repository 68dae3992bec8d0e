import {
  type ApprovalRequirement,
  type Explanation,
  explain,
  formatDuration,
  type ToolCall,
  ToolCallSchema,
  WardenError,
} from '@warden/core';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { loadPolicyOrReport } from './load-policy.js';

export interface ExplainOptions {
  readonly policy: string;
  readonly agent: string;
  readonly tool: string;
  readonly args?: string;
  readonly target?: string;
  readonly labels?: string;
  readonly session?: string;
  readonly triggeredBy?: string;
  readonly chain?: string;
  readonly now?: string;
  readonly json?: boolean;
}

/** `warden policy explain`: the decision for one call and why, rule by rule, with every CEL result. */
export function policyExplain(opts: ExplainOptions, io: CliIo): number {
  const call = buildCall(opts);
  const policy = loadPolicyOrReport([opts.policy], io);
  if (!policy) return EXIT.failed;
  const ex = explain(policy, call);
  if (opts.json) {
    io.out(`${JSON.stringify(ex, null, 2)}\n`);
    return EXIT.ok;
  }
  io.out(render(ex, call, policy.name));
  return EXIT.ok;
}

function parseJsonObject(flag: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new WardenError(
      'USAGE',
      `${flag} is not valid JSON (${(err as Error).message}); write e.g. ${flag} '{"amount": 120}'`,
    );
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new WardenError('USAGE', `${flag} must be a JSON object, e.g. ${flag} '{"amount": 120}'`);
  return v as Record<string, unknown>;
}

function buildCall(o: ExplainOptions): ToolCall {
  const raw = {
    agent: o.agent,
    tool: o.tool,
    args: parseJsonObject('--args', o.args),
    target: o.target,
    labels: parseJsonObject('--labels', o.labels),
    session: o.session,
    triggeredBy: o.triggeredBy,
    delegationChain: o.chain
      ? o.chain
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    now: o.now,
  };
  const parsed = ToolCallSchema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)),
  );
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.') || 'call'}: ${i.message}`).join('; ');
    throw new WardenError('CALL_INVALID', `the call is invalid: ${msg}`);
  }
  return parsed.data;
}

function show(v: boolean | string | undefined): string {
  if (v === undefined || v === 'not evaluated') return '—';
  if (v === true) return 'true';
  if (v === false) return 'false';
  return v;
}

function render(ex: Explanation, call: ToolCall, policyName: string): string {
  const d = ex.decision;
  const lines: string[] = [];
  const by = d.ruleId ? `by rule ${d.ruleId}` : 'by the default (no rule matched)';
  lines.push(`Decision  ${d.effect.toUpperCase()}  ${by}`);
  if (d.mode === 'monitor')
    lines.push(
      `          monitor mode: the policy says ${d.policyEffect.toUpperCase()}, the call is allowed and recorded`,
    );
  lines.push(`Policy    ${policyName}  version ${d.policyVersion.slice(0, 12)}  mode ${d.mode}`);
  for (const r of d.reasons) lines.push(`Reason    ${r}`);
  const approvals = d.approvals ?? [];
  approvals.forEach((a, i) => {
    const label = i === 0 ? 'Approval ' : '     and ';
    lines.push(`${label} ${describeApproval(a)}`);
  });
  if (approvals.length > 1) lines.push("          (every matched review rule's requirement must be met)");
  const toolRules = ex.rules.filter((r) => r.toolMatched).length;
  const scope = ex.agentKnown
    ? ex.sections.join(' → ')
    : `${ex.sections.join(' → ')} (agent "${call.agent}" is not named in the policy)`;
  lines.push(`Scope     ${scope}`);
  lines.push(
    `          ${ex.rules.length} rule(s) in scope, ${toolRules} cover tool ${call.tool}, ${d.matchedRuleIds.length} matched`,
  );
  lines.push('');
  const rows = ex.rules.map((r) => [
    r.decided ? '→' : '',
    r.effect,
    r.id,
    r.section,
    r.tools.join(', '),
    r.toolMatched ? 'yes' : 'no',
    r.targets ? r.targets.map((t) => `${t.name}=${show(t.result)}`).join(' ') : '—',
    r.when ? r.when.source : '—',
    r.when && r.toolMatched ? show(r.when.result) : '—',
    r.matched ? 'MATCH' : '',
  ]);
  const widths = [1, 6, 32, 24, 32, 5, 40, 44, 40, 6];
  lines.push(
    renderTable(
      ['', 'tier', 'rule', 'section', 'tools', 'tool?', 'targets', 'condition', 'value', 'result'],
      rows,
      widths,
    ),
  );
  return `${lines.join('\n')}\n`;
}

function describeApproval(a: ApprovalRequirement): string {
  const who = [
    a.approvers.roles.length ? `roles ${a.approvers.roles.join(', ')}` : '',
    a.approvers.groups.length ? `groups ${a.approvers.groups.join(', ')}` : '',
    a.approvers.principals.length ? `principals ${a.approvers.principals.join(', ')}` : '',
    a.approvers.agents.length ? `agents ${a.approvers.agents.join(', ')}` : '',
  ].filter(Boolean);
  const each = a.requireEach.length ? ` · each of ${a.requireEach.join(', ')} must approve` : '';
  const reason = a.requireReason ? ' · reason required' : '';
  return `${a.quorum} of: ${who.join('; ')}${each} · timeout ${formatDuration(a.timeoutMs)} · on timeout ${a.onTimeout}${reason}`;
}
