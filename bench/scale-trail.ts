/**
 * Builds a realistic audit trail of N events fast, for the scale benchmarks: 50 agents, sessions of a few
 * calls each, allowed calls decided and completed with usage (model, tokens, cost), a few blocked calls,
 * spread evenly over the 30 days before the build started; then, through a real engine on the same
 * database, a few policy changes and approvals (requested, approved or denied) at the present time.
 *
 * The bulk goes through the Store's public `commit` in batches, so every hook on the commit path (the
 * chain, query columns, rollups, storage layout) applies exactly as for live traffic; no row is written
 * by hand. The bodies are copies of what a real engine wrote for one call of each kind (captured on a
 * scratch database with the same policy), with identity, time, arguments and usage varied: whatever the
 * engine's event shape becomes, the trail follows it.
 *
 * `buildTrail` caches per process: each (database kind, size) is built once per `npm run bench`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, canonicalJson, compilePolicy, uuidv7 } from '@warden/core';
import { type Engine, openEngine, openStore, parseAuditQuery, type Store } from '@warden/engine';

export const TRAIL_AGENTS = 50;
/** Calls per session: 1M calls make 125,000 sessions. */
const CALLS_PER_SESSION = 8;
/** One call in this many is blocked (decided, never completed); the rest are allowed and completed. */
const BLOCK_EVERY = 20;
/** Units per `commit`: one transaction each, as a busy group committer would make them. */
const BATCH = 2_000;
const DAY_MS = 86_400_000;
const APPROVALS = 24;

const agentName = (i: number) => `agent-${String(i).padStart(2, '0')}`;

function policyYaml(extraRule: (i: number) => string = () => ''): string {
  const agents = Array.from(
    { length: TRAIL_AGENTS },
    (_, i) => `  ${agentName(i)}:
    rules:
      - { id: llm-any-${i}, effect: allow, tools: ['llm:*', 'search', 'crm.read'] }
      - { id: no-drops-${i}, effect: block, tools: [db.drop] }
      - id: pay-review-${i}
        effect: review
        tools: [pay]
        approval: { approvers: { groups: [leads] }, timeout: 1h }${extraRule(i)}`,
  ).join('\n');
  return `name: scale bench
approverGroups:
  leads: [lee, lina]
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
${agents}
`;
}

const POLICY_V1 = policyYaml();
const POLICY_V2 = policyYaml((i) => `\n      - { id: no-wires-${i}, effect: block, tools: ['wire.*'] }`);

/** A built trail and what the benchmarks need to read it. */
export interface Trail {
  /** The SQLite file or postgres:// URL. */
  readonly db: string;
  /** The policy file in force at the end (pass to `warden serve --policy`). */
  readonly policyFile: string;
  /** The engine's key file (pass to `warden serve --keys`). */
  readonly keysFile: string;
  /** Events in the trail (the chain's head seq). */
  readonly events: number;
  readonly sessions: number;
  /** The 30 days the bulk covers, and the present at the end of the build. */
  readonly from: string;
  readonly to: string;
  /** Mean canonical JSON size of the bulk's events (a sample of one in 64), the floor of storage. */
  readonly canonicalBytes: number;
  /** Some session ids, spread over the trail, for session-detail reads. */
  readonly sampleSessions: readonly string[];
  readonly buildMs: number;
}

export interface TrailOptions {
  /** Events to write (about: approvals and policy changes add a few dozen). */
  readonly events: number;
  /** A directory for the policy and key files (removed by the caller). */
  readonly dir: string;
  readonly log: (msg: string) => void;
}

const cache = new Map<string, Promise<Trail>>();

/** Builds the trail in `db` once per process for each (db, events); later calls get the same trail. */
export function buildTrail(db: string, options: TrailOptions): Promise<Trail> {
  const key = `${db}\n${options.events}`;
  let built = cache.get(key);
  if (!built) {
    built = build(db, options);
    cache.set(key, built);
  }
  return built;
}

interface Templates {
  readonly allowed: AuditEvent;
  readonly completed: AuditEvent;
  readonly blocked: AuditEvent;
}

/** One allowed call with usage and one blocked call, decided by a real engine on a scratch database. */
async function captureTemplates(): Promise<Templates> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-trail-template-'));
  try {
    const db = join(dir, 'template.db');
    const engine = await openEngine({ db, policy: compilePolicy(POLICY_V1, 'policy.yaml') });
    let allowedId: string;
    let blockedId: string;
    try {
      const call = { agent: agentName(0), session: 'template', triggeredBy: 'tom' };
      const ok = await engine.check({ ...call, tool: 'llm:openai/gpt-4o', args: { prompt: 'p', n: 1 } });
      if (ok.effect !== 'allow') throw new Error(`the template call was not allowed: ${ok.effect}`);
      allowedId = ok.callId;
      await engine.complete(ok.callId, {
        status: 'ok',
        durationMs: 850,
        usage: { model: 'gpt-4o', inputTokens: 1200, outputTokens: 300, costUsd: 0.006 },
      });
      const no = await engine.check({ ...call, tool: 'db.drop', args: { table: 'users' } });
      if (no.effect !== 'block') throw new Error(`the template block was not blocked: ${no.effect}`);
      blockedId = no.callId;
    } finally {
      await engine.close();
    }
    const store = await openStore(db, { mustExist: true });
    try {
      const allowed = (await store.findCall(allowedId)).decided?.event;
      const blocked = (await store.findCall(blockedId)).decided?.event;
      const page = await store.queryAudit(parseAuditQuery({ type: 'call.completed', callId: allowedId }));
      const completed = page.records[0]?.event;
      if (!allowed || !blocked || !completed) throw new Error('the template events were not recorded');
      return { allowed, completed, blocked };
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The template's decision with agent 0's rule ids (`llm-any-0`) renamed to those of `agent`'s plan. */
function ruled(template: AuditEvent, agent: number): AuditEvent['decision'] {
  const d = template.decision;
  if (!d) throw new Error('a call.decided template has no decision');
  const rename = (id: string) => id.replace(/-0$/, `-${agent}`);
  return {
    ...d,
    ...(d.ruleId ? { ruleId: rename(d.ruleId) } : {}),
    matchedRuleIds: d.matchedRuleIds.map(rename),
  };
}

async function build(db: string, { events, dir, log }: TrailOptions): Promise<Trail> {
  if (!Number.isInteger(events) || events < 1_000) throw new Error(`trail events must be >= 1000: ${events}`);
  const t0 = performance.now();
  const tmpl = await captureTemplates();
  const end = Date.now() - 60_000;
  const start = end - 30 * DAY_MS;
  // Per 20 calls: 19 allowed (2 events each) and 1 blocked (1 event).
  const calls = Math.round(events / ((2 * (BLOCK_EVERY - 1) + 1) / BLOCK_EVERY));
  const sessions = Math.ceil(calls / CALLS_PER_SESSION);
  const stepMs = (end - start) / calls;
  log(`building a trail of ~${events.toLocaleString('en')} events: ${calls.toLocaleString('en')} calls…`);

  const store = await openStore(db);
  let written = 0;
  let nextReport = 0;
  let sampledBytes = 0;
  let sampled = 0;
  const sampleSessions: string[] = [];
  try {
    let units: Parameters<Store['commit']>[0][number][] = [];
    const flush = async () => {
      if (units.length === 0) return;
      const batch = units;
      units = [];
      for (let k = 0; k < batch.length; k += 64) {
        for (const e of batch[k]?.events ?? []) {
          sampledBytes += Buffer.byteLength(canonicalJson(e));
          sampled++;
        }
      }
      await store.commit(batch);
      written += batch.reduce((n, u) => n + u.events.length, 0);
      if (written >= nextReport) {
        const s = (performance.now() - t0) / 1000;
        log(`${written.toLocaleString('en')} events (${Math.round(written / s).toLocaleString('en')}/s)`);
        nextReport = written + Math.max(50_000, Math.floor(events / 20));
      }
    };
    for (let i = 0; i < calls; i++) {
      // Sessions interleave: at any time 64 are open, as with many agents working at once.
      const lane = i % 64;
      const round = Math.floor(i / 64);
      const s = Math.floor(round / CALLS_PER_SESSION) * 64 + lane;
      const agent = agentName(s % TRAIL_AGENTS);
      const session = `sess-${s}`;
      const ms = start + i * stepMs;
      const ts = new Date(ms).toISOString();
      const callId = uuidv7();
      const actor = { kind: 'agent' as const, id: agent };
      const blocked = i % BLOCK_EVERY === BLOCK_EVERY - 1;
      const decision = ruled(blocked ? tmpl.blocked : tmpl.allowed, s % TRAIL_AGENTS);
      const decided: AuditEvent = blocked
        ? {
            ...tmpl.blocked,
            id: callId,
            callId,
            ts,
            agent,
            session,
            actor,
            args: { table: `t${i % 97}` },
            decision,
          }
        : {
            ...tmpl.allowed,
            decision,
            id: callId,
            callId,
            ts,
            agent,
            session,
            actor,
            tool: i % 3 === 0 ? 'search' : 'llm:openai/gpt-4o',
            args: { prompt: `task ${i % 1009}`, n: i % 7 },
          };
      const first = round % CALLS_PER_SESSION === 0;
      if (first && s % Math.max(1, Math.floor(sessions / 8)) === 0) sampleSessions.push(session);
      units.push({
        ...(first
          ? {
              mutations: [
                {
                  kind: 'session.ensure' as const,
                  session: {
                    id: session,
                    agent,
                    state: 'active' as const,
                    stateReason: null,
                    triggeredBy: 'tom',
                    delegationChain: [],
                    createdAt: ts,
                    updatedAt: ts,
                  },
                },
              ],
            }
          : {}),
        events: [decided],
      });
      if (!blocked) {
        const inputTokens = 200 + (i % 1800);
        const outputTokens = 50 + (i % 450);
        const doneMs = ms + Math.min(stepMs / 2, 400 + (i % 1200));
        units.push({
          events: [
            {
              ...tmpl.completed,
              id: uuidv7(),
              ts: new Date(doneMs).toISOString(),
              agent,
              session,
              actor,
              callId,
              tool: decided.tool,
              outcome: {
                status: 'ok',
                durationMs: Math.round(doneMs - ms),
                usage: {
                  model: 'gpt-4o',
                  inputTokens,
                  outputTokens,
                  costUsd: Math.round((inputTokens * 2.5 + outputTokens * 10) / 1000) / 1000,
                },
              },
            },
          ],
        });
      }
      if (units.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    await store.close();
  }

  const policyFile = join(dir, 'policy.yaml');
  const keysFile = join(dir, 'keys.json');
  await rareEvents(db, policyFile, keysFile);
  const head = await openStore(db, { mustExist: true });
  const total = (await head.head()).seq;
  await head.close();
  const buildMs = performance.now() - t0;
  log(`trail built: ${total.toLocaleString('en')} events in ${(buildMs / 1000).toFixed(1)} s`);
  return {
    db,
    policyFile,
    keysFile,
    events: total,
    sessions,
    from: new Date(start).toISOString(),
    to: new Date().toISOString(),
    canonicalBytes: Math.round(sampledBytes / Math.max(1, sampled)),
    sampleSessions,
    buildMs,
  };
}

/** Policy changes and approvals, through a real engine at the present time (after the bulk). */
async function rareEvents(db: string, policyFile: string, keysFile: string): Promise<void> {
  const v1 = compilePolicy(POLICY_V1, 'policy.yaml');
  const v2 = compilePolicy(POLICY_V2, 'policy.yaml');
  const engine: Engine = await openEngine({ db, policy: v1, keysFile });
  try {
    const carol = { kind: 'human' as const, id: 'carol' };
    await engine.setPolicy(v1, carol, [{ path: 'policy.yaml', text: POLICY_V1 }]);
    for (let i = 0; i < APPROVALS; i++) {
      const agent = agentName(i % TRAIL_AGENTS);
      const r = await engine.check({
        agent,
        tool: 'pay',
        args: { amount: 500 + i },
        session: `pay-${i}`,
        triggeredBy: 'tom',
      });
      const id = r.approval?.id;
      if (r.effect !== 'review' || !id) throw new Error(`pay should go to review: ${r.effect}`);
      if (i % 3 === 2) continue; // left pending
      const voter = { kind: 'human' as const, id: i % 2 ? 'lee' : 'lina', role: 'approver' as const };
      await engine.approvals.vote(id, voter, i % 3 === 0 ? 'approve' : 'deny', { reason: 'bench' });
    }
    await engine.setPolicy(v2, { kind: 'human', id: 'dave' }, [{ path: 'policy.yaml', text: POLICY_V2 }]);
    writeFileSync(policyFile, POLICY_V2);
    await engine.checkpoint();
  } finally {
    await engine.close();
  }
}
