import { createHmac } from 'node:crypto';
import {
  type Actor,
  type AuditEvent,
  type CallIdentity,
  canonicalJson,
  type Decision,
  type JsonValue,
  type RedactedValue,
  redactValue,
  toJsonSafe,
  type Usage,
} from '@warden/core';

/** Size caps for what a call stores. Larger values are cut and flagged, never refused. */
export interface StorageLimits {
  readonly maxArgsBytes: number;
  readonly maxResultBytes: number;
}

export const DEFAULT_LIMITS: StorageLimits = { maxArgsBytes: 64 * 1024, maxResultBytes: 64 * 1024 };

/** What every call event needs from the engine. */
export interface EventContext {
  readonly instance: string;
  readonly hmacKey: Buffer;
  readonly redactFields: readonly string[];
  readonly limits: StorageLimits;
}

/**
 * HMAC-SHA256 of the canonical unredacted arguments. Stored instead of the secrets themselves, it lets
 * an approval be bound to the exact call (same arguments, same fingerprint) without keeping them.
 */
export function argsFingerprint(hmacKey: Buffer, args: unknown): string {
  return createHmac('sha256', hmacKey)
    .update(canonicalJson(toJsonSafe(args ?? {})))
    .digest('hex');
}

/**
 * HMAC-SHA256 of the whole call as the policy and separation of duties see it, unredacted: an approval
 * binds to this, so a redeemed call cannot move to another target, labels, trigger or delegation chain.
 */
export function callFingerprint(
  hmacKey: Buffer,
  call: Pick<DecidedCall, 'tool' | 'args' | 'target' | 'labels' | 'triggeredBy' | 'delegationChain'>,
): string {
  const whole = {
    tool: call.tool ?? null,
    args: call.args ?? {},
    target: call.target ?? null,
    labels: call.labels ?? {},
    triggeredBy: call.triggeredBy ?? null,
    delegationChain: call.delegationChain ?? [],
  };
  return createHmac('sha256', hmacKey)
    .update(canonicalJson(toJsonSafe(whole)))
    .digest('hex');
}

/** The decided call as the engine saw it; fields may be missing when the call itself was invalid. */
export interface DecidedCall {
  readonly callId: string;
  readonly ts: string;
  readonly agent: string;
  readonly session: string;
  readonly tool?: string;
  readonly args?: unknown;
  readonly target?: string;
  readonly labels?: Record<string, string>;
  readonly triggeredBy?: string;
  readonly delegationChain?: readonly string[];
  /** The arguments' fingerprint, when the engine already computed it. */
  readonly argsHmac?: string;
  /** The API key the agent called with, recorded in the actor (absent for in-process SDK calls). */
  readonly keyId?: string;
  /** How the agent, the initiator and the chain were verified (recorded on the decision). */
  readonly identity?: CallIdentity;
}

/** The actor of an agent's call and of what it does to its approval: the agent, and its key when known. */
export function callActor(call: { readonly agent: string; readonly keyId?: string }): Actor {
  return { kind: 'agent', id: call.agent, ...(call.keyId ? { keyId: call.keyId } : {}) };
}

/** A `call.decided` event: arguments redacted and capped, with the fingerprint of the originals. */
export function decidedEvent(
  ctx: EventContext,
  call: DecidedCall,
  decision: Pick<Decision, 'effect' | 'policyEffect' | 'mode' | 'ruleId' | 'matchedRuleIds' | 'reasons'>,
  extra: {
    code?: string;
    policyVersion?: string;
    grantId?: string;
    approvalId?: string;
    reservationId?: string;
    meteredBy?: 'proxy';
  },
): AuditEvent {
  const args = redactValue(call.args ?? {}, { fields: ctx.redactFields, maxBytes: ctx.limits.maxArgsBytes });
  const target =
    call.target === undefined ? undefined : redactValue(call.target, { fields: ctx.redactFields });
  return {
    id: call.callId,
    ts: call.ts,
    type: 'call.decided',
    actor: callActor(call),
    instance: ctx.instance,
    agent: call.agent,
    session: call.session,
    callId: call.callId,
    ...(call.tool !== undefined ? { tool: call.tool } : {}),
    ...(target ? { target: String(target.value) } : {}),
    ...(call.labels ? { labels: call.labels } : {}),
    ...(call.triggeredBy ? { triggeredBy: call.triggeredBy } : {}),
    ...(call.delegationChain?.length ? { delegationChain: [...call.delegationChain] } : {}),
    ...(call.identity ? { identity: call.identity } : {}),
    args: args.value,
    argsHmac: call.argsHmac ?? argsFingerprint(ctx.hmacKey, call.args),
    decision: {
      effect: decision.effect,
      policyEffect: decision.policyEffect,
      mode: decision.mode,
      ruleId: decision.ruleId,
      matchedRuleIds: [...decision.matchedRuleIds],
      reasons: [...decision.reasons],
      ...(extra.code ? { code: extra.code } : {}),
      ...(extra.grantId ? { grantId: extra.grantId } : {}),
      ...(extra.approvalId ? { approvalId: extra.approvalId } : {}),
      ...(extra.reservationId ? { reservationId: extra.reservationId } : {}),
      ...(extra.meteredBy ? { meteredBy: extra.meteredBy } : {}),
    },
    ...(extra.policyVersion ? { policyVersion: extra.policyVersion } : {}),
    ...marks(['args', args], ['target', target]),
  };
}

/** How a tool call ended, as the caller reports it. */
export interface CallOutcome {
  readonly status: 'ok' | 'error';
  readonly result?: unknown;
  readonly error?: unknown;
  readonly durationMs?: number;
  readonly usage?: Usage;
}

/** A `call.completed` event for a decided call; result and error are redacted and capped. */
export function completedEvent(
  ctx: EventContext,
  decided: AuditEvent,
  outcome: CallOutcome,
  ts: string,
  eventId: string,
  /** Who completes it: the agent and the key it completed with (default: the decided call's actor). */
  by: Actor = decided.actor,
): AuditEvent {
  const result =
    outcome.result === undefined
      ? undefined
      : redactValue(outcome.result, { fields: ctx.redactFields, maxBytes: ctx.limits.maxResultBytes });
  const error =
    outcome.error === undefined
      ? undefined
      : redactValue(errorText(outcome.error), { fields: ctx.redactFields, maxBytes: 8 * 1024 });
  const durationMs = outcome.durationMs ?? Math.max(0, Date.parse(ts) - Date.parse(decided.ts));
  return {
    id: eventId,
    ts,
    type: 'call.completed',
    actor: by,
    instance: ctx.instance,
    ...pick(decided, ['agent', 'session', 'tool', 'callId', 'triggeredBy', 'policyVersion']),
    outcome: {
      status: outcome.status,
      ...(result ? { result: result.value } : {}),
      ...(error ? { error: String(error.value) } : {}),
      durationMs,
      ...(outcome.usage ? { usage: outcome.usage } : {}),
    },
    ...marks(['outcome.result', result], ['outcome.error', error]),
  };
}

function errorText(err: unknown): JsonValue {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return typeof err === 'string' ? err : toJsonSafe(err);
}

function pick(e: AuditEvent, keys: readonly (keyof AuditEvent)[]): Partial<AuditEvent> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (e[k] !== undefined) out[k] = e[k];
  return out as Partial<AuditEvent>;
}

/** The redaction record and flags of the stored values, when there is anything to say. */
function marks(...values: [string, RedactedValue | undefined][]): Pick<AuditEvent, 'redactions' | 'flags'> {
  const redactions = values.flatMap(([at, v]) =>
    (v?.redactions ?? []).map((r) => ({
      path: r.path ? `${at}${r.path.startsWith('[') ? '' : '.'}${r.path}` : at,
      kind: r.kind,
    })),
  );
  const flags = [...new Set(values.flatMap(([, v]) => v?.flags ?? []))].sort();
  return {
    ...(redactions.length ? { redactions } : {}),
    ...(flags.length ? { flags } : {}),
  };
}
