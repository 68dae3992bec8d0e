/**
 * Tool-name globs: `*` matches any run of characters (dots included, so `github.*` covers
 * `github.repos.create`), `?` one character, `{a,b}` alternatives. Everything else is literal.
 * Globs compile once; matching is linear-time wildcard matching (no backtracking regular expressions),
 * because callers choose tool names and a hostile name must not make a decision slow.
 */
export type GlobMatcher = (name: string) => boolean;

const SPECIAL = /[*?{]/;
/** Brace alternatives multiply; past this many expansions a glob is refused. */
const MAX_EXPANSIONS = 256;

/** True when the pattern has no glob syntax and therefore names exactly one tool. */
export function isLiteralGlob(pattern: string): boolean {
  return !SPECIAL.test(pattern);
}

/** Compiles a glob to a matcher. Throws a plain Error naming the problem (unbalanced or exploding braces). */
export function compileGlob(pattern: string): GlobMatcher {
  const alternatives = expandBraces(pattern);
  const matchers = alternatives.map(compileWildcard);
  if (matchers.length === 1) return matchers[0] as GlobMatcher;
  return (name) => {
    for (const m of matchers) if (m(name)) return true;
    return false;
  };
}

function compileWildcard(pattern: string): GlobMatcher {
  if (pattern === '*') return () => true;
  if (isLiteralGlob(pattern)) return (name) => name === pattern;
  const star = pattern.indexOf('*');
  if (star === pattern.length - 1 && isLiteralGlob(pattern.slice(0, -1))) {
    const prefix = pattern.slice(0, -1);
    return (name) => name.startsWith(prefix);
  }
  return (name) => wildcardMatch(pattern, name);
}

/**
 * Classic wildcard matching with one backtrack point (the last `*`): O(pattern × name) in the worst case,
 * never exponential, unlike a backtracking RegExp such as /^.*a.*a.*a.*b$/.
 */
function wildcardMatch(p: string, s: string): boolean {
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    const c = p[pi];
    if (pi < p.length && (c === '?' || c === s[si])) {
      pi++;
      si++;
    } else if (c === '*') {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else return false;
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/** Expands `{a,b}` alternatives (nesting allowed) into plain wildcard patterns. */
function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  let close = -1;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) {
      close = i;
      break;
    } else if (ch === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) throw new Error(`unbalanced "{" in glob "${pattern}"`);
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  const bounds = [open, ...commas, close];
  const out: string[] = [];
  for (let i = 0; i < bounds.length - 1; i++) {
    const option = pattern.slice((bounds[i] as number) + 1, bounds[i + 1]);
    for (const rest of expandBraces(head + option + tail)) {
      out.push(rest);
      if (out.length > MAX_EXPANSIONS)
        throw new Error(`glob "${pattern}" expands to more than ${MAX_EXPANSIONS} alternatives`);
    }
  }
  return [...new Set(out)];
}

/**
 * Conservative coverage test used by lint: true only when every name `inner` matches is certainly
 * matched by `outer` (never a false positive; may miss exotic cases).
 */
export function globCovers(outer: string, inner: string): boolean {
  if (outer === '*' || outer === inner) return true;
  if (isLiteralGlob(inner)) return compileGlob(outer)(inner);
  if (outer.endsWith('*') && isLiteralGlob(outer.slice(0, -1))) {
    return inner.startsWith(outer.slice(0, -1));
  }
  return false;
}
