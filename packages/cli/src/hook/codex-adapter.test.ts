/**
 * The Codex adapter against the hook input Codex CLI 0.171.0 was seen sending (captured from the real
 * binary), its apply_patch format, and the settings it writes (the trust hash is the one Codex's own
 * app-server reported as `currentHash` for the same hook). The real Codex runs in test/hooks/codex.test.ts.
 */

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codexAdapter, codexToolUses, parseCodexHook } from './codex-adapter.js';
import { codexHookHash, installCodexHooks, withHookTrust } from './codex-install.js';
import { patchWrites, rustTrim } from './codex-patch.js';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const SESSION = '01a252b8-6eb9-7890-80dc-5c7e9e588a76';
const common = {
  session_id: SESSION,
  turn_id: '01a252b8-6ed3-7820-bc81-1899b596b5cf',
  transcript_path: '/home/dev/.codex/sessions/rollout.jsonl',
  cwd: '/work/proj',
  model: 'gpt-5.5',
  permission_mode: 'bypassPermissions',
};
const PATCH =
  '*** Begin Patch\n*** Add File: a.txt\n+hello\n*** Update File: b.txt\n@@\n-old\n+new\n*** Delete File: c.txt\n*** End Patch\n';

describe('codexAdapter.parse: the input Codex 0.171.0 sends', () => {
  it('PreToolUse Bash → a shell use in the Codex session; the project is the hook process’s directory', () => {
    const event = codexAdapter.parse(
      JSON.stringify({
        ...common,
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_input: { command: 'echo hi > out.txt' },
        tool_use_id: 'call_1',
      }),
      {},
    );
    expect(event).toEqual({
      type: 'pre',
      ctx: { assistant: 'codex', sessionId: SESSION, cwd: '/work/proj', projectDir: process.cwd() },
      toolUseId: 'call_1',
      native: { name: 'Bash', input: { command: 'echo hi > out.txt' } },
      uses: [{ kind: 'shell', command: 'echo hi > out.txt' }],
    });
  });

  it('PreToolUse apply_patch over three files → three writes', () => {
    const event = codexAdapter.parse(
      JSON.stringify({
        ...common,
        hook_event_name: 'PreToolUse',
        tool_name: 'apply_patch',
        tool_input: { command: PATCH },
        tool_use_id: 'call_p1',
      }),
      {},
    );
    expect(event.type === 'pre' && event.uses).toMatchObject([
      { kind: 'write', path: 'a.txt', operation: 'write', size: 6 },
      { kind: 'write', path: 'b.txt', operation: 'patch', size: 4 },
      { kind: 'write', path: 'c.txt', operation: 'delete', size: 0 },
    ]);
  });

  it('PostToolUse carries the tool output as the result (apply_patch’s exit code decides ok)', () => {
    const post = (tool_name: string, tool_input: unknown, tool_response: unknown) =>
      codexAdapter.parse(
        JSON.stringify({
          ...common,
          hook_event_name: 'PostToolUse',
          tool_name,
          tool_input,
          tool_response,
          tool_use_id: 'c',
        }),
        {},
      );
    expect(post('Bash', { command: 'echo out; exit 3' }, 'out\nerr\n')).toMatchObject({
      type: 'post',
      toolUseId: 'c',
      result: { ok: true, summary: { output: 'out\nerr\n' } },
    });
    expect(
      post('apply_patch', { command: PATCH }, 'Exit code: 1\nWall time: 0.1 seconds\nOutput:\nfailed'),
    ).toMatchObject({
      result: { ok: false, summary: { exitCode: 1 } },
    });
    expect(post('mcp__files__delete', { path: 'x' }, { content: [], isError: true })).toMatchObject({
      uses: [{ kind: 'mcp', server: 'files', tool: 'delete', input: { path: 'x' } }],
      result: { ok: false },
    });
  });

  it('SessionStart and other events decide nothing', () => {
    expect(
      codexAdapter.parse(
        JSON.stringify({ ...common, hook_event_name: 'SessionStart', source: 'startup' }),
        {},
      ),
    ).toMatchObject({ type: 'session-start', name: 'SessionStart' });
    expect(codexAdapter.parse(JSON.stringify({ ...common, hook_event_name: 'Stop' }), {})).toMatchObject({
      type: 'other',
    });
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    [
      'no session',
      JSON.stringify({ ...common, session_id: undefined, hook_event_name: 'PreToolUse' }),
      /session_id/,
    ],
    [
      'a relative cwd',
      JSON.stringify({ ...common, cwd: 'proj', hook_event_name: 'PreToolUse' }),
      /cwd must be an absolute/,
    ],
    [
      'no tool name',
      JSON.stringify({ ...common, hook_event_name: 'PreToolUse', tool_input: {} }),
      /tool_name/,
    ],
    [
      'a Bash without command',
      JSON.stringify({ ...common, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: {} }),
      /command/,
    ],
  ])('%s is REQUEST_INVALID naming the field', (_, stdin, message) => {
    expect(() => codexAdapter.parse(stdin, {})).toThrow(
      expect.objectContaining({ code: 'REQUEST_INVALID', message: expect.stringMatching(message) }),
    );
  });
});

describe('codexToolUses', () => {
  it('maps argv shells, reads, web searches, sub-agents and anything else', () => {
    expect(codexToolUses('shell', { command: ['bash', '-lc', 'ls -la'] })).toEqual([
      { kind: 'shell', command: 'ls -la' },
    ]);
    expect(codexToolUses('local_shell', { command: ['rm', '-rf', "it's here"] })).toEqual([
      { kind: 'shell', command: `rm -rf 'it'\\''s here'` },
    ]);
    expect(codexToolUses('view_image', { path: 'shot.png' })).toEqual([{ kind: 'read', path: 'shot.png' }]);
    expect(codexToolUses('web_search', { query: 'warden' })).toEqual([{ kind: 'web', query: 'warden' }]);
    expect(codexToolUses('spawn_agent', { agent_type: 'worker', message: 'fix it' })).toEqual([
      { kind: 'delegate', subagent: 'worker', description: 'fix it' },
    ]);
    expect(codexToolUses('update_plan', { plan: [] })).toEqual([
      { kind: 'other', name: 'update_plan', input: { plan: [] } },
    ]);
  });

  it('a patch that does not parse is refused (the hook denies it), naming why', () => {
    expect(() => codexToolUses('apply_patch', { command: 'diff --git a b' })).toThrow(
      /apply_patch: the patch could not be read whole.*Begin Patch/,
    );
  });

  it('a PreToolUse whose patch does not parse is denied by the runner (event pre)', () => {
    const bad = JSON.stringify({
      ...common,
      hook_event_name: 'PreToolUse',
      tool_name: 'apply_patch',
      tool_input: { command: '*** Begin Patch\n  *** Remove File: /home/u/x\n*** End Patch' },
    });
    expect(() => codexAdapter.parse(bad, {})).toThrow(
      expect.objectContaining({
        code: 'REQUEST_INVALID',
        details: expect.objectContaining({ event: 'pre' }),
      }),
    );
  });

  it('a shell command runs in its workdir: paths are analysed there, the project stays the session’s', () => {
    const event = (tool_input: unknown, cwd = common.cwd) =>
      parseCodexHook(
        JSON.stringify({ ...common, cwd, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input }),
        '/work/proj',
      );
    // What Codex 0.171 sends for exec_command {"cmd":"rm -rf *","workdir":"/home/u"}: the workdir as cwd.
    expect(event({ command: 'rm -rf *' }, '/home/u').ctx).toMatchObject({
      cwd: '/home/u',
      projectDir: '/work/proj',
    });
    // A workdir in tool_input (other Codex builds), relative to the session's directory.
    expect(event({ cmd: 'rm -rf *', workdir: '/home/u' }).ctx).toMatchObject({
      cwd: '/home/u',
      projectDir: '/work/proj',
    });
    expect(event({ command: ['bash', '-lc', 'ls'], workdir: '../other' }).ctx.cwd).toBe('/work/other');
    expect(event({ command: 'ls' }).ctx.cwd).toBe(common.cwd);
    expect(() => event({ command: 'ls', workdir: 7 })).toThrow(/workdir must be a string/);
  });
});

describe('patchWrites', () => {
  it('a move deletes the source and writes the destination with the added lines', () => {
    expect(
      patchWrites(
        '*** Begin Patch\n*** Update File: src/a.ts\n*** Move to: src/b.ts\n@@\n-x\n+yy\n*** End Patch',
      ),
    ).toMatchObject([
      { kind: 'write', path: 'src/a.ts', operation: 'delete', size: 0 },
      { kind: 'write', path: 'src/b.ts', operation: 'write', size: 3 },
    ]);
  });
  it('headers are matched trimmed, as Codex does: an indented Delete or Add File is seen', () => {
    expect(
      patchWrites(
        '*** Begin Patch\n *** Delete File: /home/u/important\n\t*** Add File: /etc/x\n+a\n  *** End Patch  ',
      ),
    ).toMatchObject([
      { kind: 'write', path: '/home/u/important', operation: 'delete', size: 0 },
      { kind: 'write', path: '/etc/x', operation: 'write', size: 2 },
    ]);
  });
  it('a line starting "*** " that is no header, or a patch without its end, is refused', () => {
    expect(() =>
      patchWrites('*** Begin Patch\n*** Add File: a\n+x\n  ***  Delete File: /home/u/y\n*** End Patch'),
    ).toThrow(/line 4: .*not a patch header/);
    expect(() => patchWrites('*** Begin Patch\n*** Add File: a\n+x')).toThrow(/End Patch/);
    expect(() =>
      patchWrites('*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n*** Delete File: b'),
    ).toThrow(/after "\*\*\* End Patch"/);
    // Markers that name no file are understood.
    expect(
      patchWrites('*** Begin Patch\n*** Update File: a\n@@\n-x\n+y\n*** End of File\n*** End Patch'),
    ).toMatchObject([{ kind: 'write', path: 'a', operation: 'patch', size: 2 }]);
  });
  it('each write carries the SHA-256 and a preview of its own section of the patch', () => {
    const section = '*** Add File: a.txt\n+hello';
    const [a, b] = patchWrites(`*** Begin Patch\n${section}\n*** Delete File: c\n*** End Patch`);
    expect(a).toMatchObject({ contentSha256: sha256(section), preview: section });
    expect(b).toMatchObject({ contentSha256: sha256('*** Delete File: c') });
    // Same path, same size, different content: a different hash, so an approval of one does not redeem the other.
    const [other] = patchWrites('*** Begin Patch\n*** Add File: a.txt\n+HELLO\n*** End Patch');
    expect(other?.size).toBe(a?.size);
    expect(other?.contentSha256).not.toBe(a?.contentSha256);
  });
  it('trims as Rust does: a U+0085 (NEL) before a header is seen as the header (or refused), never skipped', () => {
    // JavaScript's trim() keeps U+0085; Codex's str::trim() strips it and applies the Add File.
    const sneaky =
      '*** Begin Patch\n*** Add File: a\n+x\n\u0085*** Add File: .codex/hooks.json\n+{}\n*** End Patch';
    expect(() => patchWrites(sneaky)).toThrow(/line 4: .*control or Unicode whitespace/);
    expect(rustTrim('\u0085\u00a0\u3000 x \u2029\u0085')).toBe('x');
    expect(rustTrim('\ufeffx')).toBe('\ufeffx');
  });
  it.each([
    ['a BOM before a header', '\ufeff*** Delete File: b'],
    ['a zero-width space in a header', '*** Delete\u200b File: b'],
    ['a no-break space in a header', '***\u00a0Delete File: b'],
    ['a NEL inside a header', '*** Delete File:\u0085b'],
    ['an unknown *** line', '*** Copy File: b'],
    ['*** inside a non-content line', 'x *** Delete File: b'],
    ['a context line that trims to ***', ' ***'],
  ])('refuses %s', (_name, line) => {
    expect(() => patchWrites(`*** Begin Patch\n*** Update File: a\n@@\n${line}\n+y\n*** End Patch`)).toThrow(
      /line 4: /,
    );
  });
  it('content lines may hold *** (markdown)', () => {
    expect(
      patchWrites('*** Begin Patch\n*** Add File: README.md\n+***\n+a ***bold*** b\n*** End Patch'),
    ).toMatchObject([{ path: 'README.md', size: 19 }]);
  });
  it('a patch naming no file is refused', () => {
    expect(() => patchWrites('*** Begin Patch\n*** End Patch')).toThrow(/names no file/);
  });
});

describe('codexAdapter.render', () => {
  const pre = codexAdapter.parse(
    JSON.stringify({
      ...common,
      hook_event_name: 'PreToolUse',
      tool_name: 'Bash',
      tool_input: { command: 'ls' },
      tool_use_id: 'c',
    }),
    {},
  );
  it('deny → Codex’s PreToolUse deny decision with the reason, exit 0', () => {
    const out = codexAdapter.render(pre, { kind: 'deny', reason: 'blocked by rule no-rm' });
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({
      hookSpecificOutput: {
        hookEventName: 'PreToolUse',
        permissionDecision: 'deny',
        permissionDecisionReason: 'blocked by rule no-rm',
      },
    });
  });
  it('allow → nothing on stdout (Codex refuses an "allow" without an input rewrite), exit 0', () => {
    expect(codexAdapter.render(pre, { kind: 'allow' })).toEqual({ stdout: '', stderr: '', exitCode: 0 });
  });
  it('deny without a parsed event → exit 2 with the reason on stderr (Codex blocks on it)', () => {
    expect(codexAdapter.render(undefined, { kind: 'deny', reason: 'Warden cannot be reached' })).toEqual({
      stdout: '',
      stderr: 'Warden cannot be reached\n',
      exitCode: 2,
    });
  });
});

describe('installCodexHooks', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-codex-install-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the trust hash is the one Codex 0.171.0 reports for the same hook', () => {
    // `codex app-server` → hooks/list gave this currentHash for {"type":"command","command":"/tmp/cx/hook.sh","timeout":30}.
    expect(codexHookHash('pre_tool_use', { type: 'command', command: '/tmp/cx/hook.sh', timeout: 30 })).toBe(
      'sha256:3aeb7824cecaf69cb8333c168ddaa7ac50b4c9b8ddfa92256d07e4987fb391e3',
    );
  });

  it('merges into existing hooks and config, replaces its own hook in place, and trusts it', () => {
    const codexHome = join(dir, 'codex');
    const mine = { hooks: [{ type: 'command', command: 'notify-me' }] };
    const first = () =>
      installCodexHooks({
        scope: 'user',
        projectDir: dir,
        codexHome,
        command: 'warden hook codex',
        timeoutSeconds: 60,
      });
    // The person's own hooks and settings exist first.
    mkdirSync(codexHome);
    writeFileSync(
      join(codexHome, 'hooks.json'),
      JSON.stringify({ description: 'mine', hooks: { PreToolUse: [mine] } }),
    );
    writeFileSync(
      join(codexHome, 'config.toml'),
      'model = "gpt-5.5"\n\n[hooks.state."elsewhere"]\nenabled = false\n',
    );
    first();
    const { file, written } = first();
    expect(file).toBe(join(codexHome, 'hooks.json'));
    const hooks = JSON.parse(written);
    expect(hooks.description).toBe('mine');
    expect(hooks.hooks.PreToolUse).toEqual([
      mine,
      { hooks: [{ type: 'command', command: 'warden hook codex', timeout: 60 }] },
    ]);
    expect(hooks.hooks.PostToolUse).toHaveLength(1);
    const config = readFileSync(join(codexHome, 'config.toml'), 'utf8');
    expect(config.startsWith('model = "gpt-5.5"\n\n[hooks.state."elsewhere"]\nenabled = false\n')).toBe(true);
    const hash = codexHookHash('pre_tool_use', {
      type: 'command',
      command: 'warden hook codex',
      timeout: 60,
    });
    expect(config).toContain(
      `[hooks.state.${JSON.stringify(`${file}:pre_tool_use:1:0`)}]\nenabled = true\ntrusted_hash = "${hash}"\n`,
    );
    expect(config.match(/pre_tool_use:1:0/g)).toHaveLength(1);
  });

  it('refuses a hooks.json that is not JSON, naming the file', () => {
    const codexHome = join(dir, 'codex');
    mkdirSync(codexHome);
    writeFileSync(join(codexHome, 'hooks.json'), '{ nope');
    expect(() =>
      installCodexHooks({ scope: 'user', projectDir: dir, codexHome, command: 'c', timeoutSeconds: 5 }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('hooks.json is not valid JSON'),
      }),
    );
  });

  it('withHookTrust replaces the lines of an existing table and keeps its others', () => {
    const toml = '[hooks.state."k"]\ntrusted_hash = "old"\nnote = 1\n\n[other]\na = 1\n';
    expect(withHookTrust(toml, [['k', 'new']])).toBe(
      '[hooks.state."k"]\nenabled = true\ntrusted_hash = "new"\nnote = 1\n\n[other]\na = 1\n',
    );
  });
});
