import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWardenError } from '@warden/core';
import { afterAll, describe, expect, it } from 'vitest';
import { geminiAdapter, parseGeminiHook, renderGeminiHook } from './gemini-adapter.js';
import { editContent, writeContent } from './write-content.js';

/** Inputs as Gemini CLI 0.61 wrote them to a hook's stdin (captured from a real run). */
const base = {
  session_id: '0d7bad9a-b212-4ffe-9b93-a69fcdaa470b',
  transcript_path: '/home/dev/.gemini/tmp/proj/chats/session-2026-12-07T22-55-0d7bad9a.jsonl',
  cwd: '/work/proj',
  timestamp: '2026-12-07T22:55:14.344Z',
};
const env = { GEMINI_PROJECT_DIR: '/work/proj' };
const before = (tool_name: string, tool_input: unknown, extra: object = {}) =>
  JSON.stringify({ ...base, hook_event_name: 'BeforeTool', tool_name, tool_input, ...extra });

describe('parseGeminiHook', () => {
  it('reads a BeforeTool shell call with its session and directories', () => {
    const e = parseGeminiHook(before('run_shell_command', { command: 'echo hi > out.txt' }), env);
    expect(e).toEqual({
      type: 'pre',
      ctx: { assistant: 'gemini', sessionId: base.session_id, cwd: '/work/proj', projectDir: '/work/proj' },
      native: { name: 'run_shell_command', input: { command: 'echo hi > out.txt' } },
      uses: [{ kind: 'shell', command: 'echo hi > out.txt' }],
    });
  });

  it("runs a shell command's paths from its dir_path", () => {
    const e = parseGeminiHook(before('run_shell_command', { command: 'ls', dir_path: 'sub' }), env);
    expect(e.ctx.cwd).toBe('/work/proj/sub');
    expect(e.ctx.projectDir).toBe('/work/proj');
  });

  it.each([
    [
      'write_file',
      { file_path: 'a.txt', content: 'héllo' },
      [{ kind: 'write', path: 'a.txt', operation: 'write', size: 6, ...writeContent('héllo') }],
    ],
    [
      'replace',
      { file_path: '/x/b.ts', old_string: 'a', new_string: 'bc' },
      [
        {
          kind: 'write',
          path: '/x/b.ts',
          operation: 'edit',
          size: 2,
          ...editContent([{ old: 'a', new: 'bc' }]),
        },
      ],
    ],
    ['read_file', { file_path: '.env' }, [{ kind: 'read', path: '.env' }]],
    [
      'read_many_files',
      { include: ['a.ts', 'src/**'] },
      [
        { kind: 'read', path: 'a.ts' },
        { kind: 'read', path: 'src/**' },
      ],
    ],
    ['list_directory', { dir_path: '/etc' }, [{ kind: 'search', pattern: '*', path: '/etc' }]],
    ['glob', { pattern: '**/*.ts' }, [{ kind: 'search', pattern: '**/*.ts' }]],
    ['grep_search', { pattern: 'TODO', dir_path: 'src' }, [{ kind: 'search', pattern: 'TODO', path: 'src' }]],
    [
      'grep_search',
      { pattern: 'KEY', include: '.env*' },
      [{ kind: 'search', pattern: 'KEY', include: '.env*' }],
    ],
    ['search_file_content', { pattern: 'x', path: 'lib' }, [{ kind: 'search', pattern: 'x', path: 'lib' }]],
    ['google_web_search', { query: 'warden' }, [{ kind: 'web', query: 'warden' }]],
    [
      'web_fetch',
      { prompt: 'Summarise https://a.example/x, and http://b.example.' },
      [
        { kind: 'web', url: 'https://a.example/x' },
        { kind: 'web', url: 'http://b.example' },
      ],
    ],
    [
      'web_fetch',
      { prompt: 'no url here' },
      [{ kind: 'other', name: 'web_fetch', input: { prompt: 'no url here' } }],
    ],
    [
      'invoke_agent',
      { agent_name: 'codebase_investigator', prompt: 'look' },
      [{ kind: 'delegate', subagent: 'codebase_investigator', description: 'look' }],
    ],
    ['write_todos', { todos: [] }, [{ kind: 'other', name: 'write_todos', input: { todos: [] } }]],
  ])('maps %s', (name, input, uses) => {
    const e = parseGeminiHook(before(name, input), env);
    expect(e.type === 'pre' && e.uses).toEqual(uses);
  });

  it('maps an MCP tool by its mcp_context, else by its name', () => {
    const withContext = parseGeminiHook(
      before(
        'mcp_my_db_query',
        { sql: 'select 1' },
        { mcp_context: { server_name: 'my_db', tool_name: 'query' } },
      ),
      env,
    );
    expect(withContext.type === 'pre' && withContext.uses).toEqual([
      { kind: 'mcp', server: 'my_db', tool: 'query', input: { sql: 'select 1' } },
    ]);
    const byName = parseGeminiHook(before('mcp_github_create_issue', { title: 't' }), env);
    expect(byName.type === 'pre' && byName.uses).toEqual([
      { kind: 'mcp', server: 'github', tool: 'create_issue', input: { title: 't' } },
    ]);
  });

  it('reads an AfterTool result as a capped summary', () => {
    const long = 'x'.repeat(2000);
    const e = parseGeminiHook(
      JSON.stringify({
        ...base,
        hook_event_name: 'AfterTool',
        tool_name: 'run_shell_command',
        tool_input: { command: 'cat big' },
        tool_response: { llmContent: long, returnDisplay: long },
      }),
      env,
    );
    expect(e.type).toBe('post');
    if (e.type !== 'post') return;
    expect(e.result.ok).toBe(true);
    expect(String(e.result.summary.output).length).toBeLessThan(300);
    expect(e.result.summary.outputLength).toBe(2000);
    const failed = parseGeminiHook(
      JSON.stringify({
        ...base,
        hook_event_name: 'AfterTool',
        tool_name: 'read_file',
        tool_input: { file_path: 'gone' },
        tool_response: { llmContent: 'Error', error: { message: 'File not found', type: 'FILE_NOT_FOUND' } },
      }),
      env,
    );
    expect(failed.type === 'post' && failed.result).toEqual({
      ok: false,
      summary: { output: 'Error', error: 'File not found', errorType: 'FILE_NOT_FOUND' },
    });
  });

  it('reads the lifecycle events', () => {
    const ev = (hook_event_name: string) => parseGeminiHook(JSON.stringify({ ...base, hook_event_name }), {});
    expect(ev('SessionStart').type).toBe('session-start');
    expect(ev('SessionEnd').type).toBe('session-end');
    expect(ev('BeforeAgent').type).toBe('prompt');
    expect(ev('PreCompress')).toMatchObject({ type: 'other', name: 'PreCompress' });
    expect(ev('SessionStart').ctx.projectDir).toBe('/work/proj');
  });

  it.each([
    ['not json', /not JSON/],
    ['[]', /JSON object/],
    [JSON.stringify({ ...base, hook_event_name: 'BeforeTool', session_id: '' }), /session_id/],
    [JSON.stringify({ ...base, hook_event_name: 'BeforeTool', cwd: 'rel' }), /cwd must be an absolute/],
    [before('run_shell_command', 'ls'), /tool_input must be an object/],
    [
      before('run_shell_command', { cmd: 'ls' }),
      /run_shell_command's tool_input.command must be a non-empty string \(got nothing\)/,
    ],
    [before('write_file', { path: 'a' }), /write_file's tool_input.file_path/],
    [before('read_many_files', { include: 'a' }), /read_many_files's tool_input.include/],
  ])('rejects %s with REQUEST_INVALID naming what is wrong', (stdin, message) => {
    let thrown: unknown;
    try {
      parseGeminiHook(stdin, env);
    } catch (err) {
      thrown = err;
    }
    expect(isWardenError(thrown, 'REQUEST_INVALID')).toBe(true);
    expect((thrown as Error).message).toMatch(message);
    // What the runner needs to fail closed: a BeforeTool (or an input it cannot tell) is a `pre`.
    expect((thrown as { details: { event: string } }).details.event).toBe('pre');
  });

  it('marks an unreadable AfterTool as not a `pre`, so the runner does not deny it', () => {
    let thrown: unknown;
    try {
      parseGeminiHook(
        JSON.stringify({ ...base, hook_event_name: 'AfterTool', tool_name: 'x', tool_input: {} }),
        env,
      );
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'REQUEST_INVALID', details: { event: 'other' } });
  });
});

describe('renderGeminiHook', () => {
  it('denies with JSON and exit 0 (exit 1 or plain text would let the tool run)', () => {
    expect(renderGeminiHook(undefined, { kind: 'deny', reason: 'Blocked by rule no-rm' })).toEqual({
      stdout: '{"decision":"deny","reason":"Blocked by rule no-rm"}\n',
      stderr: '',
      exitCode: 0,
    });
  });

  it('answers no objection as {} and a message as a systemMessage (and on stderr)', () => {
    expect(renderGeminiHook(undefined, { kind: 'allow' })).toEqual({
      stdout: '{}\n',
      stderr: '',
      exitCode: 0,
    });
    expect(renderGeminiHook(undefined, { kind: 'none' }).stdout).toBe('{}\n');
    // Allowed without a decision (fail-open): still no decision, the warning shown to the person.
    expect(renderGeminiHook(undefined, { kind: 'allow', warning: 'warden: WARNING: unreachable\n' })).toEqual(
      {
        stdout: '{"systemMessage":"warden: WARNING: unreachable"}\n',
        stderr: '',
        exitCode: 0,
      },
    );
    expect(renderGeminiHook(undefined, { kind: 'none', message: 'warden: no call\n' })).toEqual({
      stdout: '{"systemMessage":"warden: no call"}\n',
      stderr: 'warden: no call\n',
      exitCode: 0,
    });
  });
});

describe('install', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-gemini-install-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const install = geminiAdapter.install as NonNullable<typeof geminiAdapter.install>;

  it('merges the hooks into existing settings, idempotently', () => {
    const project = join(dir, 'p1');
    mkdirSync(join(project, '.gemini'), { recursive: true });
    const own = { matcher: 'write_file', hooks: [{ type: 'command', command: './lint.sh' }] };
    writeFileSync(
      join(project, '.gemini', 'settings.json'),
      JSON.stringify({
        model: { name: 'gemini-2.5-pro' },
        hooks: { BeforeTool: [own] },
        hooksConfig: { enabled: false },
      }),
    );
    const options = {
      scope: 'project' as const,
      projectDir: project,
      home: dir,
      command: 'warden hook gemini',
      timeoutSeconds: 600,
    };
    install(options);
    const { file, written } = install(options);
    expect(file).toBe(join(project, '.gemini', 'settings.json'));
    const s = JSON.parse(readFileSync(file, 'utf8'));
    expect(JSON.parse(written)).toEqual(s);
    expect(s.model).toEqual({ name: 'gemini-2.5-pro' });
    expect(s.hooksConfig.enabled).toBe(true);
    expect(s.hooks.BeforeTool).toEqual([
      own,
      {
        matcher: '*',
        hooks: [
          {
            name: 'warden',
            type: 'command',
            command: 'warden hook gemini',
            timeout: 600_000,
            description: 'Warden governs this tool use (policy, review, audit)',
          },
        ],
      },
    ]);
    expect(s.hooks.AfterTool).toHaveLength(1);
    // Only the BeforeTool hook waits for a person; the others record, within a short limit.
    expect(s.hooks.AfterTool[0].hooks[0].timeout).toBe(30_000);
    expect(s.hooks.SessionStart[0].matcher).toBeUndefined();
    expect(s.hooks.SessionEnd).toHaveLength(1);
  });

  it("writes the user's ~/.gemini/settings.json", () => {
    const home = join(dir, 'home');
    const { file } = install({
      scope: 'user',
      projectDir: dir,
      home,
      command: 'warden hook gemini',
      timeoutSeconds: 60,
    });
    expect(file).toBe(join(home, '.gemini', 'settings.json'));
    const s = JSON.parse(readFileSync(file, 'utf8'));
    expect(s.hooks.BeforeTool[0].hooks[0].timeout).toBe(60_000);
    expect(s.hooksConfig).toBeUndefined();
  });

  it('refuses settings it cannot read, naming the file, and writes nothing', () => {
    const project = join(dir, 'p2');
    mkdirSync(join(project, '.gemini'), { recursive: true });
    const file = join(project, '.gemini', 'settings.json');
    writeFileSync(file, '{ // a comment\n "a": 1 }');
    expect(() =>
      install({
        scope: 'project',
        projectDir: project,
        home: dir,
        command: 'warden hook gemini',
        timeoutSeconds: 60,
      }),
    ).toThrow(/settings\.json: it is not JSON/);
    expect(readFileSync(file, 'utf8')).toBe('{ // a comment\n "a": 1 }');
  });
});
