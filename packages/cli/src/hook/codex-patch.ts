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
import { writeContent } from './write-content.js';

type Write = Extract<ToolUse, { kind: 'write' }>;

const HEADER = /^\*\*\* (Add File|Update File|Delete File|Move to): (.+)$/;

/** Markers that name no file: the patch's ends and an update hunk's end-of-file anchor. */
const MARKERS = new Set(['*** Begin Patch', '*** End Patch', '*** End of File']);

/**
 * Rust's `char::is_whitespace` (Unicode White_Space), which Codex's `str::trim()` strips. JavaScript's
 * `trim()` differs: it keeps U+0085 (NEL) and strips U+FEFF, so a `\u0085*** Add File: p` line would be
 * applied by Codex and unseen here.
 */
const RUST_WS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const RUST_TRIM = new RegExp(`^[${RUST_WS}]+|[${RUST_WS}]+$`, 'g');

/**
 * Characters refused on any line that holds `***`: controls (but tab), Unicode whitespace other than a
 * space, zero-width and direction marks and the BOM. Parsers disagree on them, so a marker written with
 * them is denied rather than read one way here and another way by Codex.
 */
function hasOddChars(line: string): boolean {
  for (const ch of line) {
    const c = ch.codePointAt(0) as number;
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0xa0) || c === 0x1680 || c === 0x180e) return true;
    if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f))
      return true;
    if (c === 0x3000 || c === 0xfeff) return true;
  }
  return false;
}

/** Trims as Codex's parser does (Rust's `str::trim`). */
export function rustTrim(text: string): string {
  return text.replace(RUST_TRIM, '');
}

/**
 * The writes a patch makes, in order: an added file is a `write` of its content's size, an updated one a
 * `patch` of the size of its added lines, a deleted one a `delete` of size 0, and a moved one a `delete`
 * of the source and a `write` of the destination. Each write's `contentSha256` is the hash of its file's
 * section of the patch (header to the next header), so an approval holds for that content only. Throws
 * an Error naming the line when the text is not a patch with at least one file, or has a line with `***`
 * that is not exactly a marker Warden knows (outside the `+`/`-`/` ` content lines), or odd characters.
 */
export function patchWrites(patch: string): Write[] {
  const lines = patch.replace(/\r\n/g, '\n').split('\n');
  const first = lines.findIndex((l) => rustTrim(l) !== '');
  if (rustTrim(lines[first] ?? '') !== '*** Begin Patch')
    throw new Error('the patch does not start with "*** Begin Patch"');
  const writes: { write: Write; section: string[] }[] = [];
  let current: { write: Write; section: string[] } | undefined;
  let ended = false;
  for (const [i, line] of lines.entries()) {
    const marker = rustTrim(line);
    const where = `line ${i + 1}: ${JSON.stringify(marker.slice(0, 80))}`;
    if (ended && marker !== '') throw new Error(`line ${i + 1}: text after "*** End Patch"`);
    if (marker === '*** End Patch') ended = true;
    if (line.includes('***') && hasOddChars(line))
      throw new Error(`${where} has control or Unicode whitespace characters around "***"`);
    const header = HEADER.exec(marker);
    const isContent = /^[-+ ]/.test(line) && !marker.startsWith('***');
    if (!header && !MARKERS.has(marker) && marker.includes('***') && !isContent)
      throw new Error(`${where} is not a patch header Warden understands`);
    if (header) {
      const [, kind, rawPath] = header as unknown as [string, string, string];
      const path = rustTrim(rawPath);
      if (kind === 'Move to') {
        // The source goes away and the destination receives the patched content; both carry the section.
        if (current?.write.operation !== 'patch' || current.write.size !== 0)
          throw new Error(`line ${i + 1}: "*** Move to" must follow an "*** Update File" header`);
        current.write.operation = 'delete';
        current.section.push(line);
        current = { write: newWrite(path, 'write'), section: current.section };
        writes.push(current);
        continue;
      }
      const operation = kind === 'Add File' ? 'write' : kind === 'Update File' ? 'patch' : 'delete';
      current = { write: newWrite(path, operation), section: [line] };
      writes.push(current);
      continue;
    }
    if (MARKERS.has(marker) && marker !== '*** End of File') continue;
    current?.section.push(line);
    // New content: each `+` line of an added file or a hunk, with its newline.
    if (current && current.write.operation !== 'delete' && line.startsWith('+'))
      current.write.size += Buffer.byteLength(line.slice(1), 'utf8') + 1;
  }
  if (!ended) throw new Error('the patch does not end with "*** End Patch"');
  if (writes.length === 0) throw new Error('the patch names no file');
  return writes.map(({ write, section }) => ({ ...write, ...writeContent(section.join('\n')) }));
}

function newWrite(path: string, operation: Write['operation']): Write {
  return { kind: 'write', path, operation, size: 0, contentSha256: '', preview: '' };
}
