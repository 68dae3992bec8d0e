/**
 * A report as a list of blocks, built once and laid out by each renderer (HTML, Markdown), so both
 * formats always show the same figures. Every string is plain text: renderers escape it.
 */
export type Block =
  | { readonly kind: 'heading'; readonly level: 1 | 2 | 3; readonly text: string; readonly id?: string }
  | { readonly kind: 'para'; readonly text: string }
  | { readonly kind: 'callout'; readonly tone: Tone; readonly text: string }
  /** Label → value pairs. */
  | { readonly kind: 'facts'; readonly rows: readonly (readonly [string, string])[] }
  | {
      readonly kind: 'table';
      readonly header: readonly string[];
      readonly rows: readonly (readonly Cell[])[];
      /** Rows left out (the list was capped): "and N more". */
      readonly more: number;
      /** Said instead of an empty table. */
      readonly empty: string;
    }
  /** The decisions-over-time chart (SVG in HTML, a table in Markdown). */
  | { readonly kind: 'chart' }
  /** Commands an auditor can run to recompute the figures. */
  | { readonly kind: 'code'; readonly lines: readonly string[] };

/** How a callout or a cell is marked. */
export type Tone = 'ok' | 'warn' | 'bad';

/** A table cell: text, or text with a tone (a violation in red). */
export type Cell = string | { readonly text: string; readonly tone: Tone };

/** The text of a cell. */
export function cellText(c: Cell): string {
  return typeof c === 'string' ? c : c.text;
}

/** Long values (reasons, arguments) are cut so a table stays readable; the audit event holds the rest. */
export function cut(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
