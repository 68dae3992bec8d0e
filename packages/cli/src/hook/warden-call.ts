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
        args: { ...fileArgs(use.path, where), operation: use.operation, size: use.size },
        labels,
      };
    case 'read':
      return { tool: 'fs.read', args: fileArgs(use.path, where), labels };
    case 'search':
      return {
        tool: 'fs.search',
        args: { pattern: use.pattern, ...fileArgs(use.path ?? ctx.cwd, where) },
        labels,
      };
    case 'web':
      return { tool: 'web.fetch', args: webArgs(use), labels };
    case 'mcp':
      return { tool: `${use.server}.${use.tool}`, args: { ...use.input }, labels };
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
