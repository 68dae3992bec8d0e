import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar } from 'yaml';
import { DIAGNOSTIC_CODES, type Diagnostic, type DiagnosticCode } from './diagnostic.js';

/** A policy source: its display name and its text. */
export interface PolicySource {
  readonly file: string;
  readonly text: string;
  /** The file's real size in bytes, when `text` holds only its first part (readers stop early on huge files). */
  readonly size?: number;
}

export type Path = readonly (string | number)[];

/** A parsed YAML file that can point back at the line and column of any path inside it. */
export interface ParsedYaml {
  readonly file: string;
  readonly value: unknown;
  /** Position of the node at `path` (or of its key, with `key`), falling back to the nearest ancestor. */
  locate(path: Path, opts?: { key?: boolean; offset?: number }): { line: number; col: number };
}

/** The largest policy file accepted; a real policy is far smaller, and this bounds parse time. */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
const MAX_DEPTH = 64;
const MAX_YAML_ERRORS = 10;

/** Builds a diagnostic with the code's documented default severity. */
export function diag(
  file: string,
  pos: { line: number; col: number },
  code: DiagnosticCode,
  message: string,
): Diagnostic {
  return { file, line: pos.line, col: pos.col, severity: DIAGNOSTIC_CODES[code][0], code, message };
}

/** Parses one YAML policy source. Never throws: every problem comes back as a diagnostic. */
export function parseYamlSource(src: PolicySource): { parsed?: ParsedYaml; diagnostics: Diagnostic[] } {
  const { file, text } = src;
  const start = { line: 1, col: 1 };
  const size = src.size ?? text.length;
  if (size > MAX_POLICY_BYTES) {
    const mb = (size / 1024 / 1024).toFixed(1);
    return {
      diagnostics: [
        diag(
          file,
          start,
          'FILE_TOO_LARGE',
          `file is ${mb} MiB; the limit is ${MAX_POLICY_BYTES / 1024 / 1024} MiB (split the policy into a folder of files)`,
        ),
      ],
    };
  }
  const lc = new LineCounter();
  const deep = findFlowNestingOver(text, MAX_DEPTH);
  // Brackets inside quoted strings or comments also count; real policies stay far below the limit.
  if (deep !== undefined) {
    return {
      diagnostics: [diag(file, posOf(text, deep), 'TOO_DEEP', `nesting deeper than ${MAX_DEPTH} levels`)],
    };
  }
  const doc = parseDocument(text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
    keepSourceTokens: false,
  });
  const pos = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    const seen = new Set<string>();
    const diagnostics: Diagnostic[] = [];
    for (const e of doc.errors) {
      const message = firstLine(e.message);
      const key = `${e.pos[0]}:${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      diagnostics.push(diag(file, pos(e.pos[0]), 'YAML_SYNTAX', message));
      if (diagnostics.length >= MAX_YAML_ERRORS) break;
    }
    return { diagnostics };
  }
  const tooDeep = findBlockNestingOver(doc.contents, MAX_DEPTH);
  if (tooDeep)
    return {
      diagnostics: [
        diag(file, pos(tooDeep.range?.[0] ?? 0), 'TOO_DEEP', `nesting deeper than ${MAX_DEPTH} levels`),
      ],
    };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { diagnostics: [diag(file, start, 'YAML_SYNTAX', firstLine((err as Error).message))] };
  }
  const locate: ParsedYaml['locate'] = (path, opts = {}) => {
    const node = nodeAt(doc.contents, path, opts.key === true);
    const offset = node?.range?.[0] ?? 0;
    return pos(offset + (opts.offset !== undefined && node ? scalarBodyStart(node) + opts.offset : 0));
  };
  return { parsed: { file, value: value ?? {}, locate }, diagnostics: [] };
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/ at line \d+, column \d+:?$/, '');
}

function posOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}

/** Finds the offset where flow brackets first nest deeper than `max` (a cheap guard before parsing). */
function findFlowNestingOver(text: string, max: number): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 91 || c === 123) {
      if (++depth > max) return i;
    } else if (c === 93 || c === 125) depth = Math.max(0, depth - 1);
  }
  return undefined;
}

function findBlockNestingOver(root: unknown, max: number): Node | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (isMap(node) || isSeq(node)) {
      if (depth > max) return node as Node;
      for (const item of node.items as unknown[]) {
        const child = isMap(node) ? (item as { value: unknown }).value : item;
        stack.push({ node: child, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

function nodeAt(root: unknown, path: Path, wantKey: boolean): Node | undefined {
  let node = root as Node | undefined;
  let last: Node | undefined = node;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) return last;
      if (wantKey && i === path.length - 1) return pair.key as Node;
      node = pair.value as Node | undefined;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
    } else return last;
    if (node?.range) last = node;
  }
  return last;
}

/** Where a scalar's text begins relative to its node start (skips the opening quote). */
function scalarBodyStart(node: Node): number {
  if (isScalar(node) && (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE)) return 1;
  return 0;
}
