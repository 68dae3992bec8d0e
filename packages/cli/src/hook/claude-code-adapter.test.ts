import { isWardenError } from '@warden/core';
import { describe, expect, it } from 'vitest';
import { claudeToolUses, parseClaudeHook, renderClaudeAnswer } from './claude-code-adapter.js';
import type { HookEvent } from './hook-adapter.js';
import { editContent, writeContent } from './write-content.js';

const base = {
  session_id: 'sess-1',
  transcript_path: '/tmp/t.jsonl',
  cwd: '/work/app',
  permission_mode: 'default',
};

function pre(tool_name: string, tool_input: Record<string, unknown>) {
  return JSON.stringify({
    ...base,
    hook_event_name: 'PreToolUse',
    tool_name,
    tool_input,
    tool_use_id: 'toolu_1',
  });
}

function parseError(stdin: string, env: NodeJS.ProcessEnv = {}): { message: string; event: unknown } {
  try {
    parseClaudeHook(stdin, env);
  } catch (err) {
    if (!isWardenError(err)) throw err;
    expect(err.code).toBe('REQUEST_INVALID');
    return { message: err.message, event: err.details.event };
  }
  throw new Error('parsed');
}

describe('the Claude Code adapter maps each tool to canonical tool uses', () => {
  it.each([
    [
      'Bash',
      { command: 'npm test', description: 'Run tests' },
      [{ kind: 'shell', command: 'npm test', description: 'Run tests' }],
    ],
    [
      'Write',
      { file_path: '/work/app/a.ts', content: 'é' },
      [{ kind: 'write', path: '/work/app/a.ts', operation: 'write', size: 2, ...writeContent('é') }],
    ],
    [
      'Edit',
      { file_path: 'b.ts', old_string: 'a', new_string: 'abc' },
      [
        {
          kind: 'write',
          path: 'b.ts',
          operation: 'edit',
          size: 3,
          ...editContent([{ old: 'a', new: 'abc' }]),
        },
      ],
    ],
    [
      'MultiEdit',
      {
        file_path: 'c.ts',
        edits: [
          { old_string: 'x', new_string: 'yy' },
          { old_string: 'z', new_string: 'www' },
        ],
      },
      [
        {
          kind: 'write',
          path: 'c.ts',
          operation: 'edit',
          size: 5,
          ...editContent([
            { old: 'x', new: 'yy' },
            { old: 'z', new: 'www' },
          ]),
        },
      ],
    ],
    [
      'NotebookEdit',
      { notebook_path: 'n.ipynb', new_source: 'print(1)' },
      [
        {
          kind: 'write',
          path: 'n.ipynb',
          operation: 'notebook',
          size: 8,
          ...editContent([
            { old: '', new: 'print(1)', extra: { cell_id: null, cell_type: null, edit_mode: null } },
          ]),
        },
      ],
    ],
    ['Read', { file_path: '/etc/passwd' }, [{ kind: 'read', path: '/etc/passwd' }]],
    ['Glob', { pattern: '**/*.ts' }, [{ kind: 'search', pattern: '**/*.ts', path: '**/*.ts' }]],
    [
      'Glob',
      { pattern: '../../**/*.pem', path: 'src' },
      [{ kind: 'search', pattern: '../../**/*.pem', path: '../**/*.pem' }],
    ],
    ['Glob', { pattern: '/etc/**', path: 'src' }, [{ kind: 'search', pattern: '/etc/**', path: '/etc/**' }]],
    [
      'Grep',
      { pattern: 'KEY', path: '/home/u', glob: '.ssh/*' },
      [{ kind: 'search', pattern: 'KEY', path: '/home/u/.ssh/*', include: '.ssh/*' }],
    ],
    [
      'Grep',
      { pattern: 'KEY', glob: '**/.env*' },
      [{ kind: 'search', pattern: 'KEY', path: '**/.env*', include: '**/.env*' }],
    ],
    [
      'Grep',
      { pattern: 'KEY', path: '/srv', type: 'py' },
      [{ kind: 'search', pattern: 'KEY', path: '/srv/**/*.py' }],
    ],
    ['Grep', { pattern: 'TODO', path: 'src' }, [{ kind: 'search', pattern: 'TODO', path: 'src' }]],
    [
      'Grep',
      { pattern: 'KEY', glob: '.env*' },
      [{ kind: 'search', pattern: 'KEY', path: '.env*', include: '.env*' }],
    ],
    [
      'WebFetch',
      { url: 'https://example.com/x', prompt: 'summarise' },
      [{ kind: 'web', url: 'https://example.com/x' }],
    ],
    ['WebSearch', { query: 'warden hooks' }, [{ kind: 'web', query: 'warden hooks' }]],
    [
      'Task',
      { description: 'Find uses', prompt: 'p', subagent_type: 'Explore' },
      [{ kind: 'delegate', subagent: 'Explore', description: 'Find uses' }],
    ],
    [
      'Agent',
      { description: 'Review', prompt: 'p' },
      [{ kind: 'delegate', subagent: 'general-purpose', description: 'Review' }],
    ],
    [
      'mcp__github_enterprise__create_issue',
      { title: 't' },
      [{ kind: 'mcp', server: 'github_enterprise', tool: 'create_issue', input: { title: 't' } }],
    ],
    ['TodoWrite', { todos: [] }, [{ kind: 'other', name: 'TodoWrite', input: { todos: [] } }]],
  ])('%s', (tool, input, uses) => {
    expect(claudeToolUses(tool, input)).toEqual(uses);
  });

  it('reads a PreToolUse with its context; the project is CLAUDE_PROJECT_DIR, else cwd', () => {
    const e = parseClaudeHook(pre('Bash', { command: 'ls' }), { CLAUDE_PROJECT_DIR: '/work' });
    expect(e).toMatchObject({
      type: 'pre',
      toolUseId: 'toolu_1',
      ctx: { assistant: 'claude-code', sessionId: 'sess-1', cwd: '/work/app', projectDir: '/work' },
      native: { name: 'Bash', input: { command: 'ls' } },
    });
    expect(parseClaudeHook(pre('Bash', { command: 'ls' }), {}).ctx.projectDir).toBe('/work/app');
  });

  it('reads PostToolUse as a success with a capped summary, PostToolUseFailure as a failure', () => {
    const ok = parseClaudeHook(
      JSON.stringify({
        ...base,
        hook_event_name: 'PostToolUse',
        tool_name: 'Bash',
        tool_input: { command: 'ls' },
        tool_use_id: 't',
        tool_response: { stdout: 'y'.repeat(1_000), stderr: '' },
      }),
      {},
    );
    expect(ok).toMatchObject({
      type: 'post',
      result: { ok: true, summary: { stdoutLength: 1_000, stderr: '' } },
    });
    expect(
      String((ok as Extract<HookEvent, { type: 'post' }>).result.summary.stdout).length,
    ).toBeLessThanOrEqual(240);
    const failed = parseClaudeHook(
      JSON.stringify({
        ...base,
        hook_event_name: 'PostToolUseFailure',
        tool_name: 'Bash',
        tool_input: { command: 'false' },
        tool_use_id: 't',
        error: 'exit 1',
      }),
      {},
    );
    expect(failed).toMatchObject({ type: 'post', result: { ok: false, summary: { error: 'exit 1' } } });
    const refused = parseClaudeHook(
      JSON.stringify({
        ...base,
        hook_event_name: 'PermissionDenied',
        tool_name: 'Bash',
        tool_input: { command: 'x' },
        tool_use_id: 't',
        reason: 'risky',
      }),
      {},
    );
    expect(refused).toMatchObject({
      type: 'post',
      result: { ok: false, summary: { error: "not run: Claude Code's auto mode denied it: risky" } },
    });
  });

  it('reads the session events and names any other', () => {
    const of = (name: string) => parseClaudeHook(JSON.stringify({ ...base, hook_event_name: name }), {}).type;
    expect([of('SessionStart'), of('SessionEnd'), of('UserPromptSubmit'), of('Stop')]).toEqual([
      'session-start',
      'session-end',
      'prompt',
      'other',
    ]);
  });

  it('names the field that is wrong, and whether the event was a PreToolUse', () => {
    expect(parseError('')).toMatchObject({ message: expect.stringContaining('no hook input on stdin') });
    expect(parseError('[1]').message).toContain('not a JSON object');
    expect(parseError(JSON.stringify({ ...base, tool_name: 'Bash' })).message).toContain(
      'hook_event_name is missing',
    );
    expect(parseError(pre('Bash', {}))).toEqual({
      message: expect.stringContaining('tool_input.command is missing'),
      event: 'pre',
    });
    expect(parseError(pre('MultiEdit', { file_path: 'a', edits: [{}] })).message).toContain(
      'tool_input.edits[0].new_string',
    );
    expect(
      parseError(
        JSON.stringify({
          ...base,
          cwd: 'rel',
          hook_event_name: 'PreToolUse',
          tool_name: 'Read',
          tool_input: { file_path: 'a' },
        }),
      ).message,
    ).toContain('cwd "rel" is not an absolute path');
    expect(parseError(JSON.stringify({ ...base, session_id: '', hook_event_name: 'SessionEnd' }))).toEqual({
      message: expect.stringContaining('session_id'),
      event: 'other',
    });
  });
});

describe('the Claude Code adapter answers in Claude Code’s hook protocol', () => {
  const event = parseClaudeHook(pre('Bash', { command: 'rm -rf /' }), {});

  it('a deny is permissionDecision "deny" with the reason, exit 0', () => {
    const out = renderClaudeAnswer(event, { kind: 'deny', reason: 'no' });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason: 'no',
      },
    });
  });

  it('an allow is no answer at all, so Claude Code’s own permissions still apply', () => {
    expect(renderClaudeAnswer(event, { kind: 'allow' })).toEqual({ stdout: '', stderr: '', exitCode: 0 });
  });

  it('an allow with a warning (fail-open) is still no decision, with a systemMessage for the person', () => {
    const out = renderClaudeAnswer(event, { kind: 'allow', warning: 'Warden is down' });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ systemMessage: 'Warden is down' });
  });

  it('a deny of unreadable input is exit 2 with the reason on stderr; other events print nothing on stdout', () => {
    expect(renderClaudeAnswer(undefined, { kind: 'deny', reason: 'bad input' })).toEqual({
      stdout: '',
      stderr: 'bad input\n',
      exitCode: 2,
    });
    const start = parseClaudeHook(
      JSON.stringify({ ...base, hook_event_name: 'SessionStart', source: 'startup' }),
      {},
    );
    expect(renderClaudeAnswer(start, { kind: 'none', message: 'noted' })).toEqual({
      stdout: '',
      stderr: 'noted\n',
      exitCode: 0,
    });
  });
});
