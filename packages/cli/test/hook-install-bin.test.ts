/**
 * `warden hook install claude-code` as the real process: merges Warden's hooks into Claude Code's
 * settings without touching other settings or hooks, idempotently, never writing a key; the command is
 * always the real absolute paths of Node and this CLI (never a `warden` found on PATH), with the time
 * limit it registers spelled out as `--hook-timeout` (for every assistant).
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, warden } from '../../server/test-support/serve-process.js';
import { shellQuote, wardenCommand } from '../src/hook/hook-install.js';

const NODE = shellQuote(realpathSync(process.execPath));

let dir: string;
const KEY = `wdn_${'k'.repeat(43)}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'warden-hook-install-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Settings = {
  hooks: Record<string, { matcher?: string; hooks: { type: string; command: string; timeout?: number }[] }[]>;
  [k: string]: unknown;
};

function read(file: string): Settings {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The environment of an install: PATH without any `warden`, the key set (it must not be written). */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: '/usr/bin:/bin', HOME: join(dir, 'home'), WARDEN_AGENT_KEY: KEY, ...extra };
}

describe('warden hook install claude-code', () => {
  it('merges into the project’s existing settings, keeps other hooks and settings, and is idempotent', async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, '.claude'), { recursive: true });
    const file = join(project, '.claude', 'settings.json');
    const theirs = { type: 'command', command: 'npx prettier --write "$FILE"' };
    writeFileSync(
      file,
      JSON.stringify({
        model: 'opus',
        permissions: { allow: ['Bash(ls:*)'] },
        hooks: { PostToolUse: [{ matcher: 'Write', hooks: [theirs] }] },
      }),
    );

    const r = await warden(
      [
        'hook',
        'install',
        'claude-code',
        '--project-dir',
        project,
        '--url',
        'http://127.0.0.1:7400',
        '--review-timeout',
        '90',
      ],
      env(),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`Wrote ${file}`);
    const s = read(file);
    expect(s.model).toBe('opus');
    expect(s.permissions).toEqual({ allow: ['Bash(ls:*)'] });
    const command = `${NODE} ${realpathSync(BIN)} hook claude-code --url http://127.0.0.1:7400 --review-timeout 90 --hook-timeout 150`;
    expect(s.hooks.PreToolUse).toEqual([
      { matcher: '*', hooks: [{ type: 'command', command, timeout: 150 }] },
    ]);
    expect(s.hooks.PostToolUse).toEqual([
      { matcher: 'Write', hooks: [theirs] },
      { matcher: '*', hooks: [{ type: 'command', command, timeout: 30 }] },
    ]);
    for (const event of ['PostToolUseFailure', 'PermissionDenied', 'SessionStart', 'SessionEnd'])
      expect(s.hooks[event]?.[0]?.hooks[0]?.command).toBe(command);
    // What it printed is what it wrote.
    expect(r.out).toContain(readFileSync(file, 'utf8'));

    const before = readFileSync(file, 'utf8');
    const again = await warden(
      [
        'hook',
        'install',
        'claude-code',
        '--project-dir',
        project,
        '--url',
        'http://127.0.0.1:7400',
        '--review-timeout',
        '90',
      ],
      env(),
    );
    expect(again.code, again.err).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(before).not.toContain(KEY);

    // A changed review time updates Warden's entry in place rather than adding another.
    await warden(
      ['hook', 'install', 'claude-code', '--project-dir', project, '--review-timeout', '30'],
      env(),
    );
    const changed = read(file);
    expect(changed.hooks.PreToolUse).toHaveLength(1);
    expect(changed.hooks.PreToolUse?.[0]?.hooks[0]).toMatchObject({
      timeout: 90,
      command: `${NODE} ${realpathSync(BIN)} hook claude-code --review-timeout 30 --hook-timeout 90`,
    });
    expect(changed.hooks.PostToolUse?.[0]?.hooks[0]).toEqual(theirs);
  });

  it('--user writes ~/.claude/settings.json; a `warden` on PATH is never used (the absolute CLI is)', async () => {
    // A project-writable PATH entry (node_modules/.bin) holding an agent's own `warden`.
    const bin = join(dir, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'warden'), '#!/bin/sh\n');
    chmodSync(join(bin, 'warden'), 0o755);
    const r = await warden(
      ['hook', 'install', 'claude-code', '--user'],
      env({ PATH: `${bin}:/usr/bin:/bin` }),
    );
    expect(r.code, r.err).toBe(0);
    const s = read(join(dir, 'home', '.claude', 'settings.json'));
    expect(s.hooks.PreToolUse?.[0]?.hooks[0]).toEqual({
      type: 'command',
      command: `${NODE} ${realpathSync(BIN)} hook claude-code --hook-timeout 300`,
      timeout: 300,
    });
  });

  it('quotes a CLI path with spaces and resolves symlinks (wardenCommand)', () => {
    const spaced = join(dir, "my wardens' dir");
    mkdirSync(spaced, { recursive: true });
    writeFileSync(join(spaced, 'bin.js'), '');
    symlinkSync(join(spaced, 'bin.js'), join(dir, 'link.js'));
    expect(wardenCommand(join(dir, 'link.js'))).toBe(
      `${NODE} '${realpathSync(spaced)}/bin.js'`.replace("wardens' dir", "wardens'\\'' dir"),
    );
  });

  it('refuses a settings file that is not JSON, naming it, and leaves it as it was', async () => {
    const project = join(dir, 'broken');
    mkdirSync(join(project, '.claude'), { recursive: true });
    const file = join(project, '.claude', 'settings.json');
    writeFileSync(file, '{ "hooks": ');
    const r = await warden(['hook', 'install', 'claude-code', '--project-dir', project], env());
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file} is not valid JSON`);
    expect(readFileSync(file, 'utf8')).toBe('{ "hooks": ');
  });

  it('writes the time limit it registers into the command as --hook-timeout, for every assistant', async () => {
    const project = join(dir, 'limits');
    mkdirSync(project, { recursive: true });
    for (const assistant of ['claude-code', 'codex', 'gemini']) {
      const r = await warden(
        ['hook', 'install', assistant, '--project-dir', project, '--review-timeout', '40'],
        env(),
      );
      expect(r.code, r.err).toBe(0);
      const [, file, command, limit] =
        /^Wrote (\S+) \(the hook runs `(.+)`, time limit (\d+) s\)/.exec(r.out) ?? [];
      expect(limit).toBe('100');
      expect(command).toBe(
        `${NODE} ${realpathSync(BIN)} hook ${assistant} --review-timeout 40 --hook-timeout 100`,
      );
      // The entry that decides (PreToolUse, Gemini CLI's BeforeTool) runs that command under that limit.
      const written = JSON.stringify(read(file as string));
      const timeout = assistant === 'gemini' ? 100_000 : 100;
      expect(written).toContain(`"command":${JSON.stringify(command)},"timeout":${timeout}`);
    }
  });

  it('refuses --project with --user, a bad --review-timeout and an unknown assistant (exit 2)', async () => {
    const both = await warden(
      ['hook', 'install', 'claude-code', '--project', '--user', '--project-dir', dir],
      env(),
    );
    expect(both).toMatchObject({ code: 2 });
    expect(both.err).toContain('choose one of --project and --user');
    const bad = await warden(
      ['hook', 'install', 'claude-code', '--review-timeout', 'soon', '--project-dir', dir],
      env(),
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--review-timeout "soon" is not a number of seconds');
    const unknown = await warden(['hook', 'install', 'vim', '--project-dir', dir], env());
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown assistant "vim": warden hook knows claude-code');
  });
});
