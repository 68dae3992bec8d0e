/**
 * A tool's result cut down for the audit: a few top-level fields, long text clipped, nested values
 * described by their size. The server redacts secrets too; this keeps a big file read or a long build
 * log out of the trail (and the hook's request small).
 */

/** At most this many fields are kept. */
const MAX_FIELDS = 12;
/** Text longer than this is clipped (its full length is recorded beside it). */
const MAX_TEXT = 240;

/** The capped summary of any tool result (`{ output }` when it is not an object). */
export function summarizeResult(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { output: brief(value) };
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries.slice(0, MAX_FIELDS)) {
    out[key] = brief(v);
    if (typeof v === 'string' && v.length > MAX_TEXT) out[`${key}Length`] = v.length;
  }
  if (entries.length > MAX_FIELDS) out.omittedFields = entries.length - MAX_FIELDS;
  return out;
}

/** Clips text to `max` characters. */
export function clipText(text: string, max = MAX_TEXT): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function brief(v: unknown): unknown {
  if (typeof v === 'string') return clipText(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) return v ?? null;
  if (Array.isArray(v)) return `[${v.length} items]`;
  if (typeof v === 'object') return `{${Object.keys(v as object).length} fields}`;
  return String(v);
}
