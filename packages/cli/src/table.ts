/**
 * Renders rows as an aligned plain-text table. Cells longer than their column's maximum (`max`, a
 * number for every column or one per column) are cut with an ellipsis.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  max: number | readonly number[] = 48,
): string {
  const limit = (i: number) => (typeof max === 'number' ? max : (max[i] ?? 48));
  const cut = (s: string, i: number) => (s.length > limit(i) ? `${s.slice(0, limit(i) - 1)}…` : s);
  const all = [header, ...rows].map((r) => r.map((c, i) => cut(c.replace(/\s+/g, ' '), i)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const [head, ...body] = all;
  return [line(head ?? []), line(widths.map((w) => '─'.repeat(w))), ...body.map(line)].join('\n');
}
