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
      const message = /multiple documents/i.test(e.message)
        ? 'the file holds several YAML documents (---); put each in its own file'
        : firstLine(e.message);
      const key = `${e.pos[0]}:${message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      diagnostics.push(diag(file, pos(e.pos[0]), 'YAML_SYNTAX', message));
      if (diagnostics.length >= MAX_YAML_ERRORS) break;
    }
    return { diagnostics };
  }
  const bad = findStructureProblem(doc.contents, MAX_DEPTH);
  if (bad) return { diagnostics: [diag(file, pos(bad.node.range?.[0] ?? 0), bad.code, bad.message)] };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (err) {
    return { diagnostics: [diag(file, start, 'YAML_SYNTAX', firstLine((err as Error).message))] };
  }
  const locate: ParsedYaml['locate'] = (path, opts = {}) => {
    const node = nodeAt(doc.contents, path, opts.key === true);
    const offset = node?.range?.[0] ?? 0;
    return pos(offset + (opts.offset !== undefined && node ? bodyOffset(text, node, opts.offset) : 0));
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

/**
 * Walks the document (iteratively, so hostile nesting cannot overflow the stack) for what the policy
 * format never contains: nesting deeper than `max`, keys that are not strings (YAML reads `7:` as a
 * number and `~:` as null, which would silently rename or merge entries), and `__proto__` keys (dropped
 * by object handling downstream, so the rule or label would vanish without a word).
 */
function findStructureProblem(
  root: unknown,
  max: number,
): { node: Node; code: 'TOO_DEEP' | 'SCHEMA'; message: string } | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > max)
      return { node: node as Node, code: 'TOO_DEEP', message: `nesting deeper than ${max} levels` };
    for (const item of node.items as unknown[]) {
      if (isMap(node)) {
        const { key, value } = item as { key: unknown; value: unknown };
        const k = isScalar(key) ? key.value : key;
        if (typeof k !== 'string') {
          const shown = isScalar(key) ? String(key.source ?? k) : 'a collection';
          return {
            node: (key ?? node) as Node,
            code: 'SCHEMA',
            message: `key ${shown} is not a string; quote it ("${shown}")`,
          };
        }
        if (k === '__proto__')
          return { node: key as Node, code: 'SCHEMA', message: 'the key "__proto__" is not allowed' };
        stack.push({ node: value, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
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
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
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

/**
 * Where character `offset` of a scalar's value sits relative to the node's start: exact for plain and
 * quoted scalars written without escapes; the scalar's start otherwise (block scalars, escapes), so a
 * position is never wrong, only less precise.
 */
function bodyOffset(text: string, node: Node, offset: number): number {
  if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return 0;
  const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
  const start = node.range[0] + (quoted ? 1 : 0);
  if (node.type !== Scalar.PLAIN && !quoted) return 0;
  return text.slice(start, start + node.value.length) === node.value ? (quoted ? 1 : 0) + offset : 0;
}
