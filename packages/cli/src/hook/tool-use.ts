/**
 * The canonical tool use: what every assistant adapter produces from its assistant's native tool call,
 * so one mapping (warden-call.ts) and one policy can govern Claude Code, Codex and Gemini alike.
 */

/** The coding assistants Warden has hook adapters for. */
export const ASSISTANTS = ['claude-code', 'codex', 'gemini'] as const;

/** One of {@link ASSISTANTS}. */
export type AssistantName = (typeof ASSISTANTS)[number];

/**
 * One thing an assistant is about to do (or did). Paths may be relative to {@link ToolUseContext.cwd};
 * the mapping resolves them. One native tool use may become several of these (a patch over three files
 * is three `write`s): each is decided, and any block denies the native call.
 */
export type ToolUse =
  /** Run a shell command string (Bash, shell, run_shell_command…). */
  | { kind: 'shell'; command: string; description?: string }
  /**
   * Create, change or delete one file; `size` is the bytes written (0 for a delete), `contentSha256` the
   * hex SHA-256 of the new content (of an edit's strings, of a patch's section: write-content.ts), which
   * ties an approval to the content approved, and `preview` the start of the content for the approver.
   */
  | {
      kind: 'write';
      path: string;
      operation: 'write' | 'edit' | 'notebook' | 'patch' | 'delete';
      size: number;
      contentSha256: string;
      preview: string;
    }
  /** Read one file. */
  | { kind: 'read'; path: string }
  /**
   * Search file names or contents (Grep, Glob…); `path` is the directory searched, cwd when absent, and
   * `include` a glob limiting the files searched (Grep's `glob`, grep_search's `include`).
   */
  | { kind: 'search'; pattern: string; path?: string; include?: string }
  /** Fetch a URL, or run a web search (`query`). */
  | { kind: 'web'; url?: string; query?: string }
  /** Call a tool on an MCP server the assistant is connected to. */
  | { kind: 'mcp'; server: string; tool: string; input: Readonly<Record<string, unknown>> }
  /** Hand work to a sub-agent. */
  | { kind: 'delegate'; subagent: string; description?: string }
  /** Any other native tool, kept by name with its input. */
  | { kind: 'other'; name: string; input: Readonly<Record<string, unknown>> };

/** Where a tool use happens: which assistant, which of its sessions, and which directories. */
export interface ToolUseContext {
  /** The assistant that made the tool use. */
  readonly assistant: AssistantName;
  /** The assistant's own session id. */
  readonly sessionId: string;
  /** The absolute working directory relative paths resolve against. */
  readonly cwd: string;
  /** The absolute project root (the assistant's project directory; else cwd). */
  readonly projectDir: string;
}
