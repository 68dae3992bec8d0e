/**
 * The seam between the hook runner and one coding assistant's hook protocol: an adapter turns the
 * assistant's hook input into a {@link HookEvent} and the runner's {@link HookVerdict} into the answer
 * the assistant understands. Everything else (Warden calls, review waits, state) is the runner's.
 */
import type { AssistantName, ToolUse, ToolUseContext } from './tool-use.js';

/** The native tool as the assistant named it, with its raw input (kept for messages and hashing). */
export interface NativeTool {
  readonly name: string;
  readonly input: unknown;
}

/** What a tool ended with, as the audit gets it: `summary` is short and capped (the server redacts too). */
export interface ToolResult {
  readonly ok: boolean;
  readonly summary: Record<string, unknown>;
}

/** One hook invocation, in the assistant-neutral form the runner acts on. */
export type HookEvent =
  | { type: 'pre'; ctx: ToolUseContext; toolUseId?: string; native: NativeTool; uses: ToolUse[] }
  | {
      type: 'post';
      ctx: ToolUseContext;
      toolUseId?: string;
      native: NativeTool;
      uses: ToolUse[];
      result: ToolResult;
    }
  | { type: 'session-start' | 'session-end' | 'prompt' | 'other'; ctx: ToolUseContext; name: string };

/** The runner's answer to an event. */
export type HookVerdict =
  /**
   * Warden does not object: defer to the assistant's own permissions (never widen them). `warning`:
   * allowed without a decision (fail-open); the runner prints it on stderr, and the adapter shows it to
   * the person where its protocol can.
   */
  | { kind: 'allow'; warning?: string }
  /** Refused; `reason` is for the model to read (Warden's reason, the rule, an approval URL…). */
  | { kind: 'deny'; reason: string }
  /** Events that decide nothing (post, session start…); `message` goes to stderr. */
  | { kind: 'none'; message?: string };

/** What the hook process prints and exits with. */
export interface HookOutput {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Where `warden hook install` writes, and the command and time limit it registers. */
export interface HookInstallOptions {
  readonly scope: 'project' | 'user';
  /** Absolute project root (the project scope's settings live under it). */
  readonly projectDir: string;
  /** The user's home directory (the user scope's settings live under it). */
  readonly home: string;
  /** The shell command the assistant runs (`warden hook <assistant> …`); never holds a secret. */
  readonly command: string;
  /** The hook's own time limit, above the runner's review wait. */
  readonly timeoutSeconds: number;
}

/** One assistant's hook protocol. */
export interface HookAdapter {
  readonly assistant: AssistantName;
  /** Throws WardenError('REQUEST_INVALID', …) naming the field; `details.event: 'pre'` when it was a pre-tool hook. */
  parse(stdin: string, env: NodeJS.ProcessEnv): HookEvent;
  /** `event` is undefined when the input could not be parsed (then a deny must fail closed). */
  render(event: HookEvent | undefined, verdict: HookVerdict): HookOutput;
  /** Merges the hooks into the assistant's settings (idempotent, other hooks kept); the file and what it now holds. */
  install?(options: HookInstallOptions): { file: string; written: string };
}
