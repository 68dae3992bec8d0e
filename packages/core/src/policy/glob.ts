/**
 * Tool-name globs: `*` matches any run of characters (dots included, so `github.*` covers
 * `github.repos.create`), `?` one character, `{a,b}` alternatives. Everything else is literal.
 * Globs compile once to a RegExp, or to a cheaper string test when the shape allows.
 */
export type GlobMatcher = (name: string) => boolean;

const SPECIAL = /[*?{]/;

/** True when the pattern has no glob syntax and therefore names exactly one tool. */
export function isLiteralGlob(pattern: string): boolean {
  return !SPECIAL.test(pattern);
}

/** Compiles a glob to a matcher. Throws a plain Error naming the problem for an unbalanced `{`. */
export function compileGlob(pattern: string): GlobMatcher {
  if (pattern === '*') return () => true;
  if (isLiteralGlob(pattern)) return (name) => name === pattern;
  const star = pattern.indexOf('*');
  if (star === pattern.length - 1 && isLiteralGlob(pattern.slice(0, -1))) {
    const prefix = pattern.slice(0, -1);
    return (name) => name.startsWith(prefix);
  }
  const re = new RegExp(`^${globToRegExpSource(pattern)}$`, 's');
  return (name) => re.test(name);
}

function globToRegExpSource(pattern: string): string {
  let out = '';
  let depth = 0;
  for (const ch of pattern) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else if (ch === '{') {
      depth++;
      out += '(?:';
    } else if (ch === '}' && depth > 0) {
      depth--;
      out += ')';
    } else if (ch === ',' && depth > 0) out += '|';
    else out += ch.replace(/[\\^$.+()|[\]{}]/g, '\\$&');
  }
  if (depth !== 0) throw new Error(`unbalanced "{" in glob "${pattern}"`);
  return out;
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
