import { redactValue } from '@warden/core';
import { describe, expect, it } from 'vitest';
import { claudeToolUses } from './claude-code-adapter.js';
import { geminiToolUses } from './gemini-tools.js';
import type { ToolUse } from './tool-use.js';
import { toWardenCall } from './warden-call.js';
import { editContent, MAX_WRITE_PREVIEW_CHARS, writeContent } from './write-content.js';

const CTX = { assistant: 'claude-code', sessionId: 's', cwd: '/p', projectDir: '/p' } as const;
const args = (tool: string, input: Record<string, unknown>) => {
  const [use] = claudeToolUses(tool, input);
  return use ? toWardenCall(use, CTX, '/home/u').args : undefined;
};

describe('a write is tied to its content', () => {
  it('hashes the content as SHA-256 of its UTF-8 bytes', () => {
    expect(writeContent('abc').contentSha256).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('a retry with different content of the same length is a different call (Write, Edit, MultiEdit, NotebookEdit)', () => {
    const pairs: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['Write', { file_path: 'a', content: 'safe' }, { file_path: 'a', content: 'evil' }],
      [
        'Edit',
        { file_path: 'a', old_string: 'x', new_string: 'safe' },
        { file_path: 'a', old_string: 'x', new_string: 'evil' },
      ],
      [
        'Edit',
        { file_path: 'a', old_string: 'x', new_string: 'y' },
        { file_path: 'a', old_string: 'z', new_string: 'y' },
      ],
      [
        'MultiEdit',
        { file_path: 'a', edits: [{ old_string: 'x', new_string: 'safe' }] },
        { file_path: 'a', edits: [{ old_string: 'x', new_string: 'evil' }] },
      ],
      [
        'NotebookEdit',
        { notebook_path: 'n', new_source: 'safe' },
        { notebook_path: 'n', new_source: 'evil' },
      ],
    ];
    for (const [tool, approved, retried] of pairs) {
      const a = args(tool, approved);
      const b = args(tool, retried);
      expect(a?.size).toBe(b?.size);
      expect(a?.contentSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(a).not.toEqual(b);
    }
    const gemini = (content: string) =>
      toWardenCall(geminiToolUses('write_file', { file_path: 'a', content })[0] as ToolUse, CTX, '/h').args;
    expect(gemini('safe').contentSha256).not.toBe(gemini('evil').contentSha256);
  });

  it('edits are joined canonically: moving text between old and new strings changes the hash', () => {
    expect(editContent([{ old: 'ab', new: 'c' }]).contentSha256).not.toBe(
      editContent([{ old: 'a', new: 'bc' }]).contentSha256,
    );
  });

  it('shows the approver a capped preview, which the server redaction covers', () => {
    const long = 'x'.repeat(10_000);
    expect(writeContent(long).preview).toHaveLength(MAX_WRITE_PREVIEW_CHARS + 1);
    const secret = 'AKIAIOSFODNN7EXAMPLQ';
    const key = `sk-ant-api03-${'Zq8xW2'.repeat(8)}`;
    const call = args('Write', {
      file_path: 'config.ts',
      content: `export const aws = "${secret}";\nconst k = "${key}";\n`,
    });
    expect(call?.preview).toContain(secret);
    const stored = JSON.stringify(redactValue(call).value);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(key);
    expect(stored).toContain('export const aws');
  });
});
