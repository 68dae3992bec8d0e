/**
 * The files a Codex `apply_patch` touches. Codex's patch format (not a unified diff) names each file in a
 * header line: `*** Add File: p` (followed by `+` lines, the new content), `*** Update File: p` (optionally
 * `*** Move to: q`, then `@@` hunks of ` `, `-` and `+` lines) and `*** Delete File: p`, between
 * `*** Begin Patch` and `*** End Patch`. One patch over three files is three writes, each decided.
 *
 * Codex trims each marker line (codex-rs/apply-patch/src/parser.rs: "lenient … leading/trailing
 * whitespace around patch markers"), so this does too: an indented `*** Delete File: p` is applied by
 * Codex and must be seen here. Any other trimmed line starting `*** ` is not understood, and a patch not
 * understood whole throws (the hook then denies it).
 */
import type { ToolUse } from './tool-use.js';

type Write = Extract<ToolUse, { kind: 'write' }>;

const HEADER = /^\*\*\* (Add File|Update File|Delete File|Move to): (.+)$/;

/** Markers that name no file: the patch's ends and an update hunk's end-of-file anchor. */
const MARKERS = new Set(['*** Begin Patch', '*** End Patch', '*** End of File']);

/**
 * The writes a patch makes, in order: an added file is a `write` of its content's size, an updated one a
 * `patch` of the size of its added lines, a deleted one a `delete` of size 0, and a moved one a `delete`
 * of the source and a `write` of the destination. Throws an Error naming the line when the text is not a patch with at least one file.
 */
export function patchWrites(patch: string): Write[] {
  const lines = patch.replace(/\r\n/g, '\n').split('\n');
  const first = lines.findIndex((l) => l.trim() !== '');
  if (lines[first]?.trim() !== '*** Begin Patch')
    throw new Error('the patch does not start with "*** Begin Patch"');
  const writes: Write[] = [];
  let current: Write | undefined;
  let ended = false;
  for (const [i, line] of lines.entries()) {
    const marker = line.trim();
    if (ended && marker !== '') throw new Error(`line ${i + 1}: text after "*** End Patch"`);
    if (marker === '*** End Patch') ended = true;
    const header = HEADER.exec(marker);
    if (!header && marker.startsWith('*** ') && !MARKERS.has(marker))
      throw new Error(
        `line ${i + 1}: ${JSON.stringify(marker.slice(0, 80))} is not a patch header Warden understands`,
      );
    if (header) {
      const [, kind, rawPath] = header as unknown as [string, string, string];
      const path = rawPath.trim();
      if (kind === 'Move to') {
        // The source goes away and the destination receives the patched content.
        if (current?.operation !== 'patch' || current.size !== 0)
          throw new Error(`line ${i + 1}: "*** Move to" must follow an "*** Update File" header`);
        current.operation = 'delete';
        current = { kind: 'write', path, operation: 'write', size: 0 };
        writes.push(current);
        continue;
      }
      const operation = kind === 'Add File' ? 'write' : kind === 'Update File' ? 'patch' : 'delete';
      current = { kind: 'write', path, operation, size: 0 };
      writes.push(current);
      continue;
    }
    // New content: each `+` line of an added file or a hunk, with its newline.
    if (current && current.operation !== 'delete' && line.startsWith('+'))
      current.size += Buffer.byteLength(line.slice(1), 'utf8') + 1;
  }
  if (!ended) throw new Error('the patch does not end with "*** End Patch"');
  if (writes.length === 0) throw new Error('the patch names no file');
  return writes;
}
