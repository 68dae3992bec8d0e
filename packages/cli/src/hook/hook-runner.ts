/**
 * `warden hook <assistant>`: one hook invocation from stdin to the assistant's answer. The adapter
 * parses and renders; this decides `pre` through Warden (hook-decision.ts), completes on `post`, and
 * fails closed: anything that keeps Warden from deciding denies a `pre`, saying what and how to fix it
 * (with fail-open, only Warden being unreachable allows, with a warning). Never a stack trace.
 */
import { canonicalJson, isWardenError, WardenError } from '@warden/core';
import { HttpTransport, type WardenTransport } from '@warden/sdk';
import { describeError } from '../describe-error.js';
import type { HookAdapter, HookEvent, HookOutput, HookVerdict } from './hook-adapter.js';
import type { HookConfig } from './hook-config.js';
import { type DecideDeps, decideCalls } from './hook-decision.js';
import { type HookCall, redactUrls } from './hook-reasons.js';
import { HookState, pruneHookState } from './hook-state.js';
import { toWardenCall } from './warden-call.js';

/** A check or completion may take this long; review waits add their own time. */
const REQUEST_TIMEOUT_MS = 20_000;

/** Runs one hook invocation; `progress` receives stderr lines while it waits. Never throws. */
export async function runHook(
  adapter: HookAdapter,
  stdin: string,
  config: HookConfig,
  env: NodeJS.ProcessEnv,
  progress: (line: string) => void,
): Promise<HookOutput> {
  let event: HookEvent;
  try {
    event = adapter.parse(stdin, env);
  } catch (err) {
    // Unreadable input: deny (a `pre` we cannot read must not run) unless the adapter could tell it was
    // another event, which decides nothing anyway; the adapter knows how to say either.
    const message = `warden hook ${adapter.assistant}: ${describeError(err)}`;
    const other = isWardenError(err) && err.details?.event === 'other';
    return adapter.render(undefined, other ? { kind: 'none', message } : { kind: 'deny', reason: message });
  }
  let verdict: HookVerdict;
  try {
    pruneHookState(config.stateDir);
    verdict = await handle(event, config, (line) => progress(redactUrls(line)));
  } catch (err) {
    verdict =
      event.type === 'pre'
        ? {
            kind: 'deny',
            reason: `Warden could not decide this tool use, so it was not run: ${describeError(err)}`,
          }
        : { kind: 'none', message: `warden: ${describeError(err)}` };
  }
  verdict = redactVerdict(verdict);
  const out = adapter.render(event, verdict);
  // A fail-open allow is always said on stderr too, whatever the adapter shows.
  return verdict.kind === 'allow' && verdict.warning
    ? { ...out, stderr: `${verdict.warning}\n${out.stderr}` }
    : out;
}

/** Every text of a verdict without URL credentials (the server's URL may carry them). */
function redactVerdict(v: HookVerdict): HookVerdict {
  if (v.kind === 'deny') return { ...v, reason: redactUrls(v.reason) };
  if (v.kind === 'allow' && v.warning) return { ...v, warning: redactUrls(v.warning) };
  if (v.kind === 'none' && v.message) return { ...v, message: redactUrls(v.message) };
  return v;
}

async function handle(
  event: HookEvent,
  config: HookConfig,
  progress: (line: string) => void,
): Promise<HookVerdict> {
  const state = new HookState(config.stateDir, event.ctx.assistant, event.ctx.sessionId);
  if (event.type === 'pre') return pre(event, config, state, progress);
  if (event.type === 'post') return post(event, config, state);
  if (event.type === 'session-end') return sessionEnd(config, state);
  // Session start, prompts and other events decide nothing: the calls themselves are governed.
  return { kind: 'none' };
}

async function pre(
  event: Extract<HookEvent, { type: 'pre' }>,
  config: HookConfig,
  state: HookState,
  progress: (line: string) => void,
): Promise<HookVerdict> {
  if (event.uses.length === 0)
    return {
      kind: 'deny',
      reason: `Warden found nothing to decide in ${event.native.name}, so it was not run.`,
    };
  const calls = event.uses.map((u) => toWardenCall(u, event.ctx) as HookCall);
  let deps: DecideDeps | undefined;
  try {
    deps = {
      transport: transportOf(config),
      config,
      state,
      session: event.ctx.sessionId,
      progress,
      answered: false,
    };
    const outcome = await decideCalls(calls, deps);
    if (outcome.kind === 'deny') return outcome;
    state.saveCalls(useKey(event.toolUseId, calls), {
      callIds: outcome.callIds,
      tools: calls.map((c) => c.tool),
      decidedAt: new Date().toISOString(),
    });
    return { kind: 'allow' };
  } catch (err) {
    const unreachable = isUnreachable(err);
    if (unreachable && config.failOpen && !deps?.answered) {
      const warning = `warden: WARNING: ${describeError(err)}; allowed WITHOUT a Warden decision because fail-open is on (--fail-open or WARDEN_HOOK_FAIL_OPEN=1)`;
      return { kind: 'allow', warning };
    }
    return { kind: 'deny', reason: failureReason(err, config) };
  }
}

/** Completes the calls the `pre` of this tool use allowed, with the tool's capped result. */
async function post(
  event: Extract<HookEvent, { type: 'post' }>,
  config: HookConfig,
  state: HookState,
): Promise<HookVerdict> {
  const transport = transportOf(config); // before taking the record: without a key it stays for later
  const calls = event.uses.map((u) => toWardenCall(u, event.ctx) as HookCall);
  const decided = state.takeCalls(useKey(event.toolUseId, calls));
  if (!decided)
    return {
      kind: 'none',
      message: 'warden: no call was allowed for this tool use by this hook; nothing to complete',
    };
  const { ok, summary } = event.result;
  const outcome = ok
    ? ({ status: 'ok', result: summary } as const)
    : ({ status: 'error', result: summary, error: errorText(summary) } as const);
  const problems = await completeAll(transport, decided.callIds, outcome);
  return { kind: 'none', ...(problems ? { message: problems } : {}) };
}

/** The session ended: calls allowed whose results never came are completed as such, so none stays open. */
async function sessionEnd(config: HookConfig, state: HookState): Promise<HookVerdict> {
  if (config.key === undefined) return { kind: 'none' };
  const leftover = state.takeAllCalls().flatMap((c) => c.callIds);
  if (leftover.length === 0) return { kind: 'none' };
  const problems = await completeAll(transportOf(config), leftover, {
    status: 'error',
    error:
      'no result reported before the assistant session ended (the tool may not have run: refused by the assistant, or interrupted)',
  });
  return { kind: 'none', ...(problems ? { message: problems } : {}) };
}

async function completeAll(
  transport: WardenTransport,
  callIds: readonly string[],
  outcome: Parameters<WardenTransport['complete']>[1],
): Promise<string | undefined> {
  const problems: string[] = [];
  for (const id of callIds) {
    try {
      await transport.complete(id, outcome);
    } catch (err) {
      if (isWardenError(err) && err.code === 'CALL_ALREADY_COMPLETED') continue;
      problems.push(`warden: could not record the result of call ${id}: ${describeError(err)}`);
    }
  }
  return problems.length > 0 ? `${problems.join('\n')}\n` : undefined;
}

/** The tool use's key in the state: the assistant's tool use id, else the hash of its calls. */
function useKey(toolUseId: string | undefined, calls: readonly HookCall[]): string {
  return toolUseId
    ? `id:${toolUseId}`
    : `calls:${canonicalJson(calls.map((c) => ({ tool: c.tool, args: c.args })))}`;
}

function transportOf(config: HookConfig): WardenTransport {
  if (config.key === undefined) {
    throw new WardenError(
      'CONFIG_INVALID',
      'No agent key: set WARDEN_AGENT_KEY in the environment the assistant runs in (create one with `warden keys create --agent NAME --role agent`)',
      { setting: 'WARDEN_AGENT_KEY' },
    );
  }
  return new HttpTransport({ url: config.url, key: config.key, timeoutMs: REQUEST_TIMEOUT_MS });
}

/** Warden did not answer (down, unreachable, timed out, a 5xx): what fail-open may let through. */
function isUnreachable(err: unknown): boolean {
  if (!isWardenError(err)) return false;
  if (err.code === 'WARDEN_UNREACHABLE' || err.code === 'SHUTTING_DOWN') return true;
  const status = err.details.status;
  return err.code === 'STORE_UNAVAILABLE' || (typeof status === 'number' && status >= 500);
}

/** The deny reason when Warden could not decide: what went wrong and how to fix it. */
function failureReason(err: unknown, config: HookConfig): string {
  const notRun = 'The tool use was not run (the Warden hook fails closed).';
  if (isWardenError(err) && err.details.setting === 'WARDEN_AGENT_KEY') return `${notRun} ${err.message}.`;
  if (isUnreachable(err)) {
    return `${notRun} Warden could not be reached at ${config.url}: ${describeError(err)}. Start it (\`warden serve\`) or set WARDEN_URL to where it runs; WARDEN_HOOK_FAIL_OPEN=1 allows tool uses while it is down.`;
  }
  if (
    isWardenError(err) &&
    (err.code === 'UNAUTHENTICATED' || err.code === 'FORBIDDEN' || err.code === 'AGENT_MISMATCH')
  ) {
    return `${notRun} Warden at ${config.url} refused the hook's key (from ${config.keySource}): ${describeError(err)}. Set WARDEN_AGENT_KEY to a valid agent key (\`warden keys create --agent NAME --role agent\`).`;
  }
  return `${notRun} Warden could not decide it: ${describeError(err)}`;
}

function errorText(summary: Record<string, unknown>): string {
  const e = summary.error;
  return typeof e === 'string' && e !== '' ? e : 'the tool failed';
}
