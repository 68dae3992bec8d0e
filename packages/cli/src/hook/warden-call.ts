import { homedir } from 'node:os';
import { isInside, type PathContext, projectRelative, resolvePath } from './project-path.js';
import { analyzeShellCommand } from './shell-command.js';
import type { ToolUse, ToolUseContext } from './tool-use.js';

/** The Warden call a policy decides for one tool use: tool name, arguments and labels. */
export interface WardenCall {
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly labels: { readonly assistant: string; readonly assistantSession: string };
}

/**
 * Maps a canonical tool use to the call a policy reasons about (docs/coding-assistants.md lists the
 * shapes). Pure apart from reading the home directory when `home` is not given; paths resolve against
 * `ctx.cwd` and `~` against `home`, and are normalised but never followed through symbolic links.
 */
export function toWardenCall(use: ToolUse, ctx: ToolUseContext, home: string = homedir()): WardenCall {
  const labels = { assistant: ctx.assistant, assistantSession: ctx.sessionId };
  const where: PathContext = { cwd: ctx.cwd, projectDir: ctx.projectDir, home };
  switch (use.kind) {
    case 'shell': {
      const facts = analyzeShellCommand(use.command, where);
      const args: Record<string, unknown> = {
        command: use.command,
        cwd: ctx.cwd,
        projectDir: ctx.projectDir,
        ...facts,
      };
      if (use.description !== undefined) args.description = use.description;
      return { tool: 'shell.exec', args, labels };
    }
    case 'write':
      return {
        tool: 'fs.write',
        args: {
          ...fileArgs(use.path, where),
          operation: use.operation,
          size: use.size,
          contentSha256: use.contentSha256,
          preview: use.preview,
        },
        labels,
      };
    case 'read':
      return { tool: 'fs.read', args: readArgs(use.path, where), labels };
    case 'search':
      return {
        tool: 'fs.search',
        args: searchArgs(use, where),
        labels,
      };
    case 'web':
      return { tool: 'web.fetch', args: webArgs(use), labels };
    case 'mcp':
      return { tool: mcpToolName(use.server, use.tool), args: { ...use.input }, labels };
    case 'delegate':
      return {
        tool: 'agent.delegate',
        args: { subagent: use.subagent, description: use.description ?? '' },
        labels,
      };
    case 'other':
      return { tool: `assistant.${toolSuffix(use.name)}`, args: { ...use.input }, labels };
  }
}

/**
 * The first name segments of Warden's own calls (`fs.read`, `shell.exec`, `assistant.todowrite`, the LLM
 * proxy's `llm…`). An MCP server may be named anything, so one named `fs` must not make `fs.read`.
 */
const RESERVED_SERVER = /^(fs|web|shell|agent|assistant|mcp|llm.*)$/;

/**
 * An MCP tool's call name: `<server>.<tool>`, or `mcp.<server>.<tool>` when the server's name (its first
 * dot-separated segment, in any case) is one of Warden's own, so no rule written for a native call can match
 * an MCP server's tool, whose arguments the model writes.
 */
export function mcpToolName(server: string, tool: string): string {
  const first = server.split('.')[0]?.toLowerCase() ?? '';
  return RESERVED_SERVER.test(first) ? `mcp.${server}.${tool}` : `${server}.${tool}`;
}

/** A file's arguments: absolute path, path relative to the project ('' outside it), and containment. */
function fileArgs(path: string, where: PathContext) {
  const abs = resolvePath(path, where);
  return {
    path: abs,
    relativePath: projectRelative(abs, where.projectDir),
    insideProject: isInside(abs, where.projectDir),
    projectDir: where.projectDir,
  };
}

/** `*`, `?`, `[` or `{` in a path a tool reads: it may stand for many files (`.env*`). */
const GLOB_CHARS = /[*?[{]/;

/**
 * A read's arguments: its file's, and whether the path is a glob. Gemini's read_many_files reads every
 * file `.env*` matches, which no rule on the path as written can tell from a harmless one.
 */
function readArgs(path: string, where: PathContext): Record<string, unknown> {
  return { ...fileArgs(path, where), glob: GLOB_CHARS.test(path) };
}

/** A search's arguments: its directory's, plus the `include` glob (Grep's `glob`), which makes it a glob. */
function searchArgs(use: Extract<ToolUse, { kind: 'search' }>, where: PathContext): Record<string, unknown> {
  const dir = use.path ?? where.cwd;
  const include = use.include === undefined ? {} : { include: use.include };
  const glob = use.include !== undefined || GLOB_CHARS.test(dir);
  return { pattern: use.pattern, ...fileArgs(dir, where), ...include, glob };
}

/** A fetch's URL with its lowercased host and scheme (both '' when the URL does not parse), or a search. */
function webArgs(use: Extract<ToolUse, { kind: 'web' }>): Record<string, unknown> {
  if (use.url === undefined) return { query: use.query ?? '', url: '', host: '', scheme: '' };
  let host = '';
  let scheme = '';
  try {
    const u = new URL(use.url);
    host = u.hostname.toLowerCase();
    scheme = u.protocol.replace(/:$/, '').toLowerCase();
  } catch {
    // An unparsable URL keeps host '' so no host allow-list matches it.
  }
  const args: Record<string, unknown> = { url: use.url, host, scheme };
  if (use.query !== undefined) args.query = use.query;
  return args;
}

/** A native tool name as a tool-name suffix: lowercased, other characters than [a-z0-9_-] as `_`. */
function toolSuffix(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '_') || '_';
}
