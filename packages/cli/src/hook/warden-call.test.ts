import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolCallSchema } from '@warden/core';
import { describe, expect, it } from 'vitest';
import type { ToolUse, ToolUseContext } from './tool-use.js';
import { toWardenCall } from './warden-call.js';

const CTX: ToolUseContext = {
  assistant: 'codex',
  sessionId: 'sess-9',
  cwd: '/work/proj/pkg',
  projectDir: '/work/proj',
};
const HOME = '/home/dev';
const call = (use: ToolUse, ctx: ToolUseContext = CTX) => toWardenCall(use, ctx, HOME);
const LABELS = { assistant: 'codex', assistantSession: 'sess-9' };

describe('toWardenCall', () => {
  it('shell → shell.exec with the command, the directories and the parsed facts', () => {
    expect(call({ kind: 'shell', command: 'sudo rm -rf ~/x | cat', description: 'clean up' })).toEqual({
      tool: 'shell.exec',
      labels: LABELS,
      args: {
        command: 'sudo rm -rf ~/x | cat',
        cwd: '/work/proj/pkg',
        projectDir: '/work/proj',
        program: 'rm',
        words: ['sudo', 'rm', '-rf', '~/x', 'cat'],
        commands: [
          {
            program: 'rm',
            words: ['rm', '-rf', '~/x'],
            pathsOutsideProject: ['/home/dev/x'],
            wrappers: ['sudo'],
            globs: false,
            braces: false,
          },
          {
            program: 'cat',
            words: ['cat'],
            pathsOutsideProject: [],
            wrappers: [],
            globs: false,
            braces: false,
          },
        ],
        pathsOutsideProject: ['/home/dev/x'],
        writesOutsideProject: [],
        pipesToShell: false,
        sudo: true,
        assignments: [],
        globs: false,
        braces: false,
        description: 'clean up',
      },
    });
  });

  it('an unparsable command keeps the command and says why, with no parsed facts', () => {
    const { args } = call({ kind: 'shell', command: 'echo "oops' });
    expect(args).toMatchObject({
      command: 'echo "oops',
      program: '',
      commands: [],
      parseError: 'unbalanced " quote',
    });
    expect('parseError' in call({ kind: 'shell', command: 'ls' }).args).toBe(false);
  });

  it('write → fs.write with the path resolved against cwd and made relative to the project', () => {
    const content = { contentSha256: 'ab'.repeat(32), preview: 'new text' };
    expect(call({ kind: 'write', path: '../src/a.ts', operation: 'edit', size: 12, ...content })).toEqual({
      tool: 'fs.write',
      labels: LABELS,
      args: {
        path: '/work/proj/src/a.ts',
        relativePath: 'src/a.ts',
        insideProject: true,
        projectDir: '/work/proj',
        operation: 'edit',
        size: 12,
        contentSha256: 'ab'.repeat(32),
        preview: 'new text',
      },
    });
  });

  it('containment checks a separator: /work/proj-evil is not inside /work/proj', () => {
    const { args } = call({
      kind: 'write',
      path: '/work/proj-evil/a',
      operation: 'write',
      size: 1,
      contentSha256: '',
      preview: '',
    });
    expect(args).toMatchObject({ path: '/work/proj-evil/a', relativePath: '', insideProject: false });
  });

  it('normalises .. and //, expands ~ against the home, and the project root itself is inside', () => {
    expect(call({ kind: 'read', path: '/work/proj//pkg/../../etc/passwd' }).args).toMatchObject({
      path: '/work/etc/passwd',
      insideProject: false,
      relativePath: '',
    });
    expect(call({ kind: 'read', path: '~/.ssh/id_rsa' }).args).toMatchObject({
      path: '/home/dev/.ssh/id_rsa',
    });
    expect(call({ kind: 'read', path: '~' }).args).toMatchObject({ path: '/home/dev', insideProject: false });
    expect(call({ kind: 'read', path: '..' }).args).toEqual({
      path: '/work/proj',
      relativePath: '.',
      insideProject: true,
      projectDir: '/work/proj',
      glob: false,
    });
  });

  it('a project dir given with a trailing slash still contains its files', () => {
    const ctx = { ...CTX, projectDir: '/work/proj/' };
    expect(call({ kind: 'read', path: 'a.ts' }, ctx).args).toMatchObject({
      relativePath: 'pkg/a.ts',
      insideProject: true,
    });
  });

  it('symbolic links are not followed: a link inside the project counts as inside', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-link-'));
    mkdirSync(join(dir, 'proj'));
    symlinkSync('/etc', join(dir, 'proj', 'etc-link'));
    const ctx = { ...CTX, cwd: join(dir, 'proj'), projectDir: join(dir, 'proj') };
    expect(call({ kind: 'read', path: 'etc-link/passwd' }, ctx).args).toMatchObject({
      path: join(dir, 'proj', 'etc-link', 'passwd'),
      insideProject: true,
    });
  });

  it('search → fs.search, in cwd when no path is given', () => {
    expect(call({ kind: 'search', pattern: 'TODO' })).toEqual({
      tool: 'fs.search',
      labels: LABELS,
      args: {
        pattern: 'TODO',
        path: '/work/proj/pkg',
        relativePath: 'pkg',
        insideProject: true,
        projectDir: '/work/proj',
        glob: false,
      },
    });
  });

  it('a read or search whose path or include is a glob says so (it may stand for .env)', () => {
    expect(call({ kind: 'read', path: '.env*' }).args).toMatchObject({
      path: '/work/proj/pkg/.env*',
      glob: true,
    });
    expect(call({ kind: 'read', path: '.{e,}nv' }).args).toMatchObject({ glob: true });
    expect(call({ kind: 'read', path: '.[e]nv' }).args).toMatchObject({ glob: true });
    expect(call({ kind: 'read', path: '.en?' }).args).toMatchObject({ glob: true });
    expect(call({ kind: 'search', pattern: 'KEY', include: '.env*' }).args).toMatchObject({
      include: '.env*',
      glob: true,
    });
    expect(call({ kind: 'search', pattern: 'KEY', path: 'src/*' }).args).toMatchObject({ glob: true });
    expect(call({ kind: 'search', pattern: '**/*.ts' }).args).toMatchObject({ glob: false });
  });

  it('an MCP server named like a native call family is prefixed with mcp., so it cannot pose as fs.read', () => {
    const input = { path: '/work/proj/a', insideProject: true };
    for (const server of [
      'fs',
      'web',
      'shell',
      'agent',
      'assistant',
      'mcp',
      'llm',
      'llm-proxy',
      'FS',
      'fs.x',
    ]) {
      expect(call({ kind: 'mcp', server, tool: 'read', input }).tool).toBe(`mcp.${server}.read`);
    }
    expect(call({ kind: 'mcp', server: 'fs', tool: 'read', input }).args).toEqual(input);
    expect(call({ kind: 'mcp', server: 'files', tool: 'read', input }).tool).toBe('files.read');
    expect(call({ kind: 'mcp', server: 'webby', tool: 'get', input }).tool).toBe('webby.get');
  });

  it('web → web.fetch with the host lowercased and the scheme; an invalid URL keeps host ""', () => {
    expect(call({ kind: 'web', url: 'HTTPS://Docs.Python.ORG:443/3/' }).args).toEqual({
      url: 'HTTPS://Docs.Python.ORG:443/3/',
      host: 'docs.python.org',
      scheme: 'https',
    });
    expect(call({ kind: 'web', url: 'https://user:pw@evil.example/x' }).args).toMatchObject({
      host: 'evil.example',
    });
    expect(call({ kind: 'web', url: 'docs.python.org/3' }).args).toEqual({
      url: 'docs.python.org/3',
      host: '',
      scheme: '',
    });
    expect(call({ kind: 'web', query: 'cel spec' }).args).toEqual({
      query: 'cel spec',
      url: '',
      host: '',
      scheme: '',
    });
  });

  it('mcp → <server>.<tool> with the input as args; delegate → agent.delegate', () => {
    expect(call({ kind: 'mcp', server: 'github', tool: 'create_issue', input: { title: 't' } })).toEqual({
      tool: 'github.create_issue',
      labels: LABELS,
      args: { title: 't' },
    });
    expect(call({ kind: 'delegate', subagent: 'explorer' }).args).toEqual({
      subagent: 'explorer',
      description: '',
    });
    expect(call({ kind: 'delegate', subagent: 'explorer' }).tool).toBe('agent.delegate');
  });

  it('other → assistant.<name> lowercased, other characters as _, so the name is a valid tool name', () => {
    const c = call({ kind: 'other', name: 'Todo Write!', input: { a: 1 } });
    expect([c.tool, c.args]).toEqual(['assistant.todo_write_', { a: 1 }]);
    expect(call({ kind: 'other', name: '', input: {} }).tool).toBe('assistant._');
  });

  it('every call it makes is one the server accepts', () => {
    const uses: ToolUse[] = [
      { kind: 'shell', command: 'curl x | sh' },
      { kind: 'write', path: 'a', operation: 'patch', size: 3, contentSha256: 'ab'.repeat(32), preview: 'x' },
      { kind: 'read', path: 'b' },
      { kind: 'search', pattern: '*.ts', path: '/' },
      { kind: 'web', url: '::' },
      { kind: 'delegate', subagent: 'x', description: 'y' },
      { kind: 'other', name: 'ÜberTool', input: {} },
      { kind: 'mcp', server: 'fs', tool: 'read', input: {} },
      { kind: 'search', pattern: 'x', include: '.env*' },
    ];
    for (const use of uses) {
      const c = call(use);
      expect(ToolCallSchema.safeParse({ agent: 'codex', ...c }).success, use.kind).toBe(true);
    }
  });
});
