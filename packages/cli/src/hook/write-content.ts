/**
 * What ties a file write's decision to its content. A write reviewed and approved once is redeemed by the
 * same call retried (the hook compares the call's canonical arguments), so the arguments must change when
 * the content does: `contentSha256` is the SHA-256 of the new content (of an edit's old and new strings,
 * of a patch's section for the file), and `preview` shows the approver the start of it (the server
 * redacts secrets in arguments and caps their strings too).
 */
import { createHash } from 'node:crypto';

/** Most characters of a write's content shown to an approver. */
export const MAX_WRITE_PREVIEW_CHARS = 2048;

/** The content facts of a write: its hash and a short preview. */
export interface WriteContent {
  /** Hex SHA-256 of the content's UTF-8 bytes (for edits, of the canonical JSON of the edits). */
  readonly contentSha256: string;
  /** The first {@link MAX_WRITE_PREVIEW_CHARS} characters of the new content, marked when cut. */
  readonly preview: string;
}

/** The content facts of writing `content` (Write, write_file, an added file). */
export function writeContent(content: string): WriteContent {
  return { contentSha256: sha256(content), preview: clip(content) };
}

/**
 * The content facts of string replacements (Edit, MultiEdit, Gemini's replace, NotebookEdit): the hash
 * covers every edit's old and new strings and options, joined canonically as JSON so no two different
 * edit lists hash alike; the preview shows the new strings.
 */
export function editContent(
  edits: readonly { readonly old: string; readonly new: string; readonly extra?: unknown }[],
): WriteContent {
  const canonical = JSON.stringify(edits.map((e) => [e.old, e.new, e.extra ?? null]));
  return { contentSha256: sha256(canonical), preview: clip(edits.map((e) => e.new).join('\n…\n')) };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function clip(text: string): string {
  return text.length <= MAX_WRITE_PREVIEW_CHARS ? text : `${text.slice(0, MAX_WRITE_PREVIEW_CHARS)}…`;
}
