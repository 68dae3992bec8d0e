/** One line of a diff: kept, added or removed. */
export interface DiffLine {
  readonly kind: ' ' | '+' | '-';
  readonly text: string;
}

/** Above this many line pairs the diff is not computed (a policy that large is diffed with git). */
const MAX_CELLS = 4_000_000;

/**
 * A line diff of two texts by longest common subsequence, or undefined when they are too large to diff
 * here. Common prefix and suffix are trimmed first, so the usual small edit is cheap.
 */
export function lineDiff(before: string, after: string): DiffLine[] | undefined {
  const a = before.split('\n');
  const b = after.split('\n');
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  if (x.length * y.length > MAX_CELLS) return undefined;
  // lcs[i][j]: the LCS length of x[i..] and y[j..].
  const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      const row = lcs[i] as Uint32Array;
      const below = lcs[i + 1] as Uint32Array;
      row[j] =
        x[i] === y[j] ? (below[j + 1] as number) + 1 : Math.max(below[j] as number, row[j + 1] as number);
    }
  }
  const out: DiffLine[] = a.slice(0, start).map((text) => ({ kind: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push({ kind: ' ', text: x[i++] as string });
      j++;
    } else if (
      i < x.length &&
      (j >= y.length || ((lcs[i + 1] as Uint32Array)[j] ?? 0) >= ((lcs[i] as Uint32Array)[j + 1] ?? 0))
    ) {
      // Removed lines before added ones, as diffs are read.
      out.push({ kind: '-', text: x[i++] as string });
    } else {
      out.push({ kind: '+', text: y[j++] as string });
    }
  }
  for (const text of a.slice(endA)) out.push({ kind: ' ', text });
  return out;
}

/** Only the changed lines with `context` unchanged lines around them; gaps are marked with null. */
export function hunks(lines: readonly DiffLine[], context = 3): (DiffLine | null)[] {
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((l, i) => {
    if (l.kind === ' ') return;
    for (let k = Math.max(0, i - context); k <= Math.min(lines.length - 1, i + context); k++) keep[k] = true;
  });
  const out: (DiffLine | null)[] = [];
  lines.forEach((l, i) => {
    if (keep[i]) out.push(l);
    else if (out.length > 0 && out[out.length - 1] !== null) out.push(null);
  });
  if (out[out.length - 1] === null) out.pop();
  return out;
}
