/** A stored policy's files. */
export interface PolicySources {
  readonly sources: readonly { readonly path: string; readonly text: string }[];
}

const FILE_HEADER = /^# ── (.+)$/;

/** The text of a version: its one file, or each file after a `# ── path` line. */
export function policyText(v: PolicySources): string {
  if (v.sources.length === 1) return v.sources[0]?.text ?? '';
  return v.sources.map((s) => `# ── ${s.path}\n${s.text}`).join('\n');
}

/**
 * The editor's text as the API takes it: text shown by `policyText` for several files is sent back as
 * those files (one YAML text could not hold two files' top-level keys); anything else is one file.
 */
export function policyInput(text: string): { text: string } | { sources: { path: string; text: string }[] } {
  const sources: { path: string; lines: string[] }[] = [];
  for (const line of text.split('\n')) {
    const header = FILE_HEADER.exec(line);
    if (header) sources.push({ path: header[1] as string, lines: [] });
    else if (sources.length > 0) sources[sources.length - 1]?.lines.push(line);
    else if (line.trim() !== '') return { text };
  }
  if (sources.length === 0) return { text };
  return { sources: sources.map((s) => ({ path: s.path, text: s.lines.join('\n') })) };
}
