import {
  type Actor,
  type Condition,
  compileCondition,
  compileGlob,
  hasStake,
  isConditionProblem,
  parseDuration,
  type Stake,
  selfApproval,
  stakeholders,
  type ToolCall,
  ToolCallSchema,
  uuidv7,
  type VerifiedWho,
  WardenError,
} from '@warden/core';
import type { EnginePort } from '../engine/engine-port.js';
import { parseAuditQuery } from '../store/audit-query.js';
import type { GrantRecord } from '../store/store.js';
import { aliasStake, type VoterAliases } from './approval-service.js';
import { SessionStakes, sessionStake } from './session-stake.js';

/** A grant as an approver asks for it. */
export interface GrantSpec {
  readonly agent: string;
  readonly tool: string;
  readonly when?: string;
  readonly session?: string;
  /** How long it lasts (`1h`); default 8h for a session grant. Required without a session. */
  readonly ttl?: string;
  readonly reason: string;
}

/** Only the verified fields (issuer + subject, key id) of an actor or recorded identity. */
function verifiedOnly(w: VerifiedWho): VerifiedWho {
  return {
    ...(typeof w.issuer === 'string' && typeof w.subject === 'string'
      ? { issuer: w.issuer, subject: w.subject }
      : {}),
    ...(typeof w.keyId === 'string' ? { keyId: w.keyId } : {}),
  };
}

function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The longest a grant may last: grants are for a task, not a standing permission (that is policy). */
export const MAX_GRANT_MS = 30 * 24 * 3_600_000;
const DEFAULT_SESSION_GRANT_MS = 8 * 3_600_000;

interface CompiledGrant {
  readonly tool: (name: string) => boolean;
  readonly when: Condition | undefined;
}

/**
 * Task-scoped grants: an approver lets one agent use a tool for one session or a time window. A grant
 * only lifts the default block (no rule matched); it never overrides a block rule and never skips a review.
 */
export class GrantService {
  readonly #engine: EnginePort;
  readonly #compiled = new Map<string, CompiledGrant>();
  readonly #creators = new Map<
    string,
    { readonly who: { readonly id: string } & VerifiedWho; readonly aliases: VoterAliases }
  >();

  /** Read on every call a grant would let through, so kept up to date rather than read whole each time. */
  #stakes: SessionStakes | undefined;

  constructor(engine: EnginePort) {
    this.#engine = engine;
  }

  /** Adds a grant; GRANT_INVALID names what is wrong. Someone with a stake in the session cannot grant in it. */
  async add(spec: GrantSpec, by: Actor, aliases: VoterAliases = {}): Promise<GrantRecord> {
    if (by.kind !== 'human') {
      throw new WardenError(
        'APPROVAL_SELF_APPROVAL',
        `${by.kind === 'agent' ? 'an agent' : 'a service'} cannot grant tools; a person must`,
      );
    }
    const record = await this.#validate(spec, by, aliases);
    const event = this.#engine.event('grant.added', by, {
      agent: record.agent,
      ...(record.session ? { session: record.session } : {}),
      data: {
        grantId: record.id,
        tool: record.tool,
        when: record.when,
        expiresAt: record.expiresAt,
        reason: record.reason,
        // Who the creator also is (their other names and identities): `find` keeps them out of their own task.
        ...(aliases.alsoKnownAs?.length ? { alsoKnownAs: [...aliases.alsoKnownAs] } : {}),
        ...(aliases.alsoVerified?.length ? { alsoVerified: aliases.alsoVerified.map(verifiedOnly) } : {}),
      },
    });
    await this.#engine.commit({ mutations: [{ kind: 'grant.add', grant: record }], events: [event] });
    return record;
  }

  async revoke(id: string, by: Actor, reason: string | null): Promise<GrantRecord> {
    const g = await this.#engine.store.grant(id);
    if (!g) throw new WardenError('GRANT_NOT_FOUND', `no grant has id ${id}`);
    const ts = new Date().toISOString();
    const event = this.#engine.event('grant.revoked', by, {
      agent: g.agent,
      ...(g.session ? { session: g.session } : {}),
      data: { grantId: id, ...(reason ? { reason } : {}) },
    });
    await this.#engine.commit({ mutations: [{ kind: 'grant.revoke', id, by: by.id, ts }], events: [event] });
    this.#compiled.delete(id);
    return (await this.#engine.store.grant(id)) ?? g;
  }

  /**
   * The tools, of those named, that an active grant for the agent covers (in any session when `session`
   * is unset). Conditions are not judged: a tool a grant may lift is shown, and each call is decided.
   */
  async coveredTools(agent: string, tools: readonly string[], session?: string): Promise<Set<string>> {
    const grants = await this.#engine.store.listGrants({ agent, now: new Date().toISOString(), limit: 200 });
    const covered = new Set<string>();
    for (const g of grants) {
      if (session !== undefined && g.session !== null && g.session !== session) continue;
      const c = this.#compile(g);
      for (const t of tools) if (c.tool(t)) covered.add(t);
    }
    return covered;
  }

  /**
   * The first active grant that covers the call, if any. A grant made by someone with a stake in the call
   * (who triggered it, or an agent in its chain) never applies: nobody grants their own task. The creator
   * is compared by name and by verified identity (their issuer + subject or key id, and the other names
   * and identities they had, as recorded with `grant.added`) against the session's whole stake.
   */
  async find(call: ToolCall, session: string, now: Date, stake: Stake): Promise<GrantRecord | undefined> {
    const grants = await this.#engine.store.listGrants({
      agent: call.agent,
      now: now.toISOString(),
      limit: 200,
    });
    const stakeNames = stakeholders(stake, {
      agent: call.agent,
      triggeredBy: call.triggeredBy ?? null,
      delegationChain: call.delegationChain ?? [],
    });
    let stakes: Stake[] | undefined;
    for (const g of grants) {
      if (g.session !== null && g.session !== session) continue;
      if (hasStake(stakeNames, g.createdBy)) continue;
      const c = this.#compile(g);
      if (!c.tool(call.tool)) continue;
      if (c.when) {
        const r = c.when.run({
          agent: call.agent,
          session,
          tool: call.tool,
          args: call.args ?? {},
          target: call.target ?? '',
          labels: call.labels ?? {},
          triggeredBy: call.triggeredBy ?? '',
          delegationChain: call.delegationChain ?? [],
          now,
        });
        // A condition that errs does not grant: fail closed.
        if (r !== true) continue;
      }
      // Read only for a grant that would apply: the session's recorded stake, with verified identities.
      this.#stakes ??= new SessionStakes(this.#engine.store);
      stakes ??= [stake, ...(await this.#stakes.of(session))];
      if (await this.#creatorHasStake(g, stakes)) continue;
      return g;
    }
    return undefined;
  }

  /**
   * Whether the grant's creator, by name, verified identity or another name or identity of theirs, has a
   * stake. Who they were is read from the grant's `grant.added` event (once per grant: it never changes);
   * a grant whose creation is not on record applies nowhere (fail closed).
   */
  async #creatorHasStake(g: GrantRecord, stakes: readonly Stake[]): Promise<boolean> {
    let creator = this.#creators.get(g.id);
    if (!creator) {
      const page = await this.#engine.store.queryAudit(
        // Recorded in the same request that made the record: within a minute of its createdAt.
        parseAuditQuery({
          type: 'grant.added',
          agent: g.agent,
          from: g.createdAt,
          to: new Date(Date.parse(g.createdAt) + 60_000).toISOString(),
          limit: 1_000,
        }),
      );
      const added = page.records.find((r) => r.event.data?.grantId === g.id)?.event;
      if (!added) return true;
      const data = added.data ?? {};
      creator = {
        who: { id: g.createdBy, ...verifiedOnly(added.actor) },
        aliases: {
          alsoKnownAs: stringsOf(data.alsoKnownAs),
          alsoVerified: Array.isArray(data.alsoVerified)
            ? data.alsoVerified.map((v) => verifiedOnly((v ?? {}) as VerifiedWho))
            : [],
        },
      };
      if (this.#creators.size > 10_000) this.#creators.clear();
      this.#creators.set(g.id, creator);
    }
    const what = `use grant ${g.id}`;
    return (
      selfApproval(creator.who, what, ...stakes) !== undefined ||
      aliasStake(what, creator.who, creator.aliases, stakes) !== undefined
    );
  }

  #compile(g: GrantRecord): CompiledGrant {
    let c = this.#compiled.get(g.id);
    if (!c) {
      const when = g.when ? compileCondition(g.when) : undefined;
      // A stored condition that no longer compiles grants nothing: fail closed.
      const never: Condition = { source: g.when ?? '', usesNow: false, constant: false, run: () => false };
      c = {
        tool: compileGlob(g.tool),
        when: when === undefined ? undefined : isConditionProblem(when) ? never : when,
      };
      if (this.#compiled.size > 10_000) this.#compiled.clear();
      this.#compiled.set(g.id, c);
    }
    return c;
  }

  async #validate(spec: GrantSpec, by: Actor, aliases: VoterAliases): Promise<GrantRecord> {
    const problems: string[] = [];
    if (!ToolCallSchema.shape.agent.safeParse(spec.agent).success)
      problems.push(`agent "${spec.agent}" is not an agent name`);
    try {
      compileGlob(spec.tool);
    } catch (err) {
      problems.push(`tool: ${(err as Error).message}`);
    }
    if (!/^[A-Za-z0-9_.:@/*?{},-]+$/.test(spec.tool))
      problems.push(`tool "${spec.tool}" is not a tool-name glob`);
    if (spec.when !== undefined) {
      const c = compileCondition(spec.when);
      if (isConditionProblem(c)) problems.push(`when: ${c.message}`);
    }
    if (!spec.reason?.trim()) problems.push('reason: say why the agent needs this');
    const ms =
      spec.ttl === undefined
        ? spec.session
          ? DEFAULT_SESSION_GRANT_MS
          : undefined
        : parseDuration(spec.ttl);
    if (ms === undefined)
      problems.push(
        spec.ttl === undefined
          ? 'ttl: give a duration (e.g. 1h) or a session'
          : `ttl "${spec.ttl}" is not a duration such as 1h`,
      );
    else if (ms <= 0 || ms > MAX_GRANT_MS) problems.push('ttl must be more than 0 and at most 30d');
    if (problems.length) {
      throw new WardenError('GRANT_INVALID', `the grant is invalid: ${problems.join('; ')}`, { problems });
    }
    // A session that exists names its stake now; one not started yet is checked when the grant is used.
    const stakes = spec.session ? await sessionStake(this.#engine.store, spec.session) : [];
    if (stakes.length > 0) {
      const what = `grant tools in session ${spec.session}`;
      const sod = selfApproval(by, what, ...stakes) ?? aliasStake(what, by, aliases, stakes);
      if (sod) throw sod;
    }
    const now = new Date();
    return {
      id: `grt_${uuidv7()}`,
      agent: spec.agent,
      tool: spec.tool,
      when: spec.when ?? null,
      session: spec.session ?? null,
      expiresAt: new Date(now.getTime() + (ms as number)).toISOString(),
      reason: spec.reason.trim(),
      createdBy: by.id,
      createdAt: now.toISOString(),
      revokedAt: null,
      revokedBy: null,
    };
  }
}
