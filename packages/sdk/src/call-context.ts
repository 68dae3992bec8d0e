import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who and what a call belongs to: the session (one agent task), the human or job that started it, the
 * agents it was delegated through, and labels a policy can test. Passed explicitly, or set for a stretch
 * of async work with `warden.withContext`.
 */
export interface CallContext {
  readonly session?: string;
  readonly triggeredBy?: string;
  readonly delegationChain?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * A signed task token (from `startTask`, `delegate`, or handed to this agent by whoever started the
   * task): Warden takes the session, the initiator and the delegation chain from it, verified, and
   * refuses a call whose own fields disagree with it.
   */
  readonly taskToken?: string;
}

const storage = new AsyncLocalStorage<CallContext>();

/** The context set by the nearest enclosing `runInContext`, if any. */
export function currentContext(): CallContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `context` layered over the one already in force (its fields win; labels merge). */
export function runInContext<T>(context: CallContext, fn: () => T): T {
  return storage.run(mergeContext(storage.getStore(), context), fn);
}

/** `over`'s fields win over `base`'s; labels are merged key by key. */
export function mergeContext(base: CallContext | undefined, over: CallContext | undefined): CallContext {
  if (!base) return over ?? {};
  if (!over) return base;
  const labels = base.labels || over.labels ? { ...base.labels, ...over.labels } : undefined;
  return { ...base, ...over, ...(labels ? { labels } : {}) };
}
