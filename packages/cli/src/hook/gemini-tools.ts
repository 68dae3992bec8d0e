/**
 * Gemini CLI's native tools as canonical tool uses. The names and argument names are Gemini CLI's own
 * (0.61: `run_shell_command`, `write_file`, `replace`, `read_file`, `read_many_files`, `list_directory`,
 * `glob`, `grep_search` (formerly `search_file_content`), `web_fetch`, `google_web_search`,
 * `invoke_agent`, and MCP tools `mcp_<server>_<tool>`). A tool this does not know stays `other`, by
 * name with its input, so a policy can still decide it; a known tool missing the argument that says
 * what it touches is an error, so the hook denies rather than guessing.
 */
import { WardenError } from '@warden/core';
import type { ToolUse } from './tool-use.js';
import { editContent, writeContent } from './write-content.js';

/** The MCP facts Gemini CLI sends with a BeforeTool/AfterTool input for an MCP tool. */
export interface GeminiMcpContext {
  readonly server_name?: unknown;
  readonly tool_name?: unknown;
}

type Input = Readonly<Record<string, unknown>>;

/** The canonical uses of one native Gemini CLI tool call (several for a multi-URL `web_fetch`). */
export function geminiToolUses(name: string, input: Input, mcp?: GeminiMcpContext): ToolUse[] {
  const str = (field: string) => requireString(name, input, field);
  switch (name) {
    case 'run_shell_command':
      return [{ kind: 'shell', command: str('command'), ...optional('description', input.description) }];
    case 'write_file':
      return [
        {
          kind: 'write',
          path: str('file_path'),
          operation: 'write',
          size: bytes(input.content),
          ...writeContent(asText(input.content)),
        },
      ];
    case 'replace': {
      const edit = {
        old: asText(input.old_string),
        new: asText(input.new_string),
        extra: input.expected_replacements ?? input.allow_multiple ?? null,
      };
      return [
        {
          kind: 'write',
          path: str('file_path'),
          operation: 'edit',
          size: bytes(input.new_string),
          ...editContent([edit]),
        },
      ];
    }
    case 'read_file':
      return [{ kind: 'read', path: str('file_path') }];
    case 'read_many_files':
      return readMany(input);
    case 'list_directory':
      return [{ kind: 'search', pattern: '*', path: str('dir_path') }];
    case 'glob':
    case 'grep_search':
    case 'search_file_content': {
      const dir = input.dir_path ?? input.path;
      // grep_search's `include` picks the files whose contents it reads (`.env*`): the policy must see it.
      const include = name === 'glob' ? undefined : input.include;
      return [
        {
          kind: 'search',
          pattern: str('pattern'),
          ...optional('path', dir),
          ...optional('include', include),
        },
      ];
    }
    case 'google_web_search':
      return [{ kind: 'web', query: str('query') }];
    case 'web_fetch':
      return webFetch(input);
    case 'invoke_agent':
      return [{ kind: 'delegate', subagent: str('agent_name'), ...optional('description', input.prompt) }];
  }
  const server = mcpServer(name, mcp);
  if (server) return [{ kind: 'mcp', server: server.server, tool: server.tool, input }];
  return [{ kind: 'other', name, input }];
}

/** `read_many_files`: one read per `include` entry (paths or globs), so each is decided on its own. */
function readMany(input: Input): ToolUse[] {
  const include = input.include ?? input.paths;
  if (!Array.isArray(include) || include.length === 0 || !include.every((p) => typeof p === 'string'))
    throw new WardenError(
      'REQUEST_INVALID',
      "read_many_files's tool_input.include must be a non-empty array of strings",
    );
  return include.map((path: string) => ({ kind: 'read', path }));
}

/** `web_fetch` names its URLs inside a prompt (up to 20): one web use per URL found there. */
function webFetch(input: Input): ToolUse[] {
  if (typeof input.url === 'string') return [{ kind: 'web', url: input.url }];
  const prompt = requireString('web_fetch', input, 'prompt');
  const urls = [...new Set(prompt.match(/\bhttps?:\/\/[^\s<>"'`)\]]+/gi) ?? [])];
  // No URL: Gemini CLI refuses the call itself; kept as `other` so a policy still sees it.
  if (urls.length === 0) return [{ kind: 'other', name: 'web_fetch', input }];
  return urls.map((url) => ({ kind: 'web', url: url.replace(/[.,;:!?]+$/, '') }));
}

/**
 * The server and tool of an MCP tool: from Gemini CLI's `mcp_context` when it sends one (exact), else
 * from the name: `mcp_<server>_<tool>` (0.61; a server name with `_` in it is ambiguous, so the
 * context wins) or `<server>__<tool>` (older versions).
 */
function mcpServer(name: string, mcp?: GeminiMcpContext): { server: string; tool: string } | undefined {
  if (typeof mcp?.server_name === 'string' && mcp.server_name !== '') {
    const tool = typeof mcp.tool_name === 'string' && mcp.tool_name !== '' ? mcp.tool_name : name;
    return { server: mcp.server_name, tool };
  }
  const modern = /^mcp_([^_]+)_(.+)$/.exec(name);
  if (modern) return { server: modern[1] as string, tool: modern[2] as string };
  const legacy = /^([^_]+(?:_[^_]+)*?)__(.+)$/.exec(name);
  if (legacy) return { server: legacy[1] as string, tool: legacy[2] as string };
  return undefined;
}

function requireString(tool: string, input: Input, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value === '')
    throw new WardenError(
      'REQUEST_INVALID',
      `${tool}'s tool_input.${field} must be a non-empty string (got ${describe(value)})`,
    );
  return value;
}

function optional<K extends string>(key: K, value: unknown): { [P in K]?: string } {
  return (typeof value === 'string' && value !== '' ? { [key]: value } : {}) as { [P in K]?: string };
}

/** The UTF-8 size of what a write puts in the file (0 when the model sent no text). */
/** A content argument as text for hashing: a non-string (never sent by Gemini CLI) as its JSON. */
function asText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}

function bytes(text: unknown): number {
  return typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : 0;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === '') return 'an empty string';
  return Array.isArray(value) ? 'an array' : typeof value;
}
