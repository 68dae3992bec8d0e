import type { z } from 'zod';

/** The closest candidate to `word` within a small edit distance, for "did you mean" hints. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= bestDist && d < word.length) {
      best = c;
      bestDist = d - 1;
    }
  }
  return best;
}

/** A ` (did you mean "x"?)` suffix, or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c ? ` (did you mean "${c}"?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 99;
}

type AnySchema = z.core.$ZodType;

/** The keys an object in `schema` at `path` may have (walks objects, records, arrays and optionals). */
export function keysAt(schema: AnySchema, path: readonly (string | number)[]): string[] {
  let s: AnySchema | undefined = schema;
  for (const seg of [...path, undefined]) {
    s = unwrap(s);
    if (!s) return [];
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (seg === undefined) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    if (def.type === 'object') s = (def.shape as Record<string, AnySchema>)[String(seg)];
    else if (def.type === 'record') s = def.valueType as AnySchema;
    else if (def.type === 'array') s = def.element as AnySchema;
    else return [];
  }
  return [];
}

function unwrap(s: AnySchema | undefined): AnySchema | undefined {
  let cur = s;
  while (cur) {
    const def = cur._zod.def as unknown as { type: string; innerType?: AnySchema; options?: AnySchema[] };
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') cur = def.innerType;
    else if (def.type === 'union')
      cur = def.options?.find((o) => (o._zod.def as { type: string }).type === 'object') ?? def.options?.[0];
    else return cur;
  }
  return cur;
}
