import type { RunContext } from '@openai/agents';
import type { CallContext } from '../call-context.js';
import type { CallDecision } from '../warden-transport.js';

/**
 * The key under which the adapter keeps its review records in the run context object. The context is
 * serialised with the RunState, so a run interrupted for review resumes in another process; an app that
 * restores with `RunState.fromStringWithContext` and its own context must copy this key over. Only reviews
 * are kept there, and they let nothing run by themselves: an approval is redeemed in Warden, which binds it
 * to the exact session, tool and arguments, once. Allow and block decisions stay in this process's memory,
 * so a saved or edited context can never carry a decision that lets a call run.
 */
export const WARDEN_CALLS_KEY = 'wardenCalls';

/** What Warden decided for one model tool call, kept until the tool runs or its review ends. */
export interface WardenCallRecord {
  /** The tool as the policy sees it. */
  readonly tool: string;
  /** The context it was decided in: a redeem must present the same session, trigger and chain. */
  readonly context: CallContext;
  readonly decision: CallDecision;
}

export type Records = Record<string, WardenCallRecord>;
/** Records of runs whose context cannot hold them (not an extensible object): this process only. */
const detached = new WeakMap<object, Records>();

/** The run's records: in its context object, so they are serialised with the RunState, when it can be. */
export function recordsOf(runContext: RunContext<unknown>): Records {
  const holder = runContext.context;
  if (typeof holder === 'object' && holder !== null) {
    const bag = holder as Record<string, unknown>;
    const existing = bag[WARDEN_CALLS_KEY];
    if (typeof existing === 'object' && existing !== null) return existing as Records;
    if (Object.isExtensible(holder)) {
      const fresh: Records = {};
      bag[WARDEN_CALLS_KEY] = fresh;
      return fresh;
    }
  }
  const key: object = typeof holder === 'object' && holder !== null ? holder : runContext;
  let records = detached.get(key);
  if (!records) {
    records = {};
    detached.set(key, records);
  }
  return records;
}
