/**
 * The shape of a parsed shell command string (shell-parser.ts makes it, shell-command.ts reads it): pipelines
 * of simple commands and subshells, words after quote removal with the scripts they substitute, and
 * redirections.
 */

/** A redirection: `op` as written (`>`, `>>`, `2>`, `&>`, `<`, `<<`…), `target` after quote removal. */
export interface ShellRedirect {
  readonly op: string;
  readonly target: string;
  /** True for `>&N`/`<&N` (a file descriptor copy, not a file) and heredocs (the target is a delimiter). */
  readonly notAFile: boolean;
  /** True when the target has an unquoted glob (bash expands it before opening the file). */
  readonly glob?: boolean;
  /** True when the target has an unquoted brace expansion. */
  readonly brace?: boolean;
}

/** One word after quote removal (variables and globs are left as written), and what it substitutes. */
export interface ShellWord {
  readonly text: string;
  /** Scripts of the `$( )`, backtick and `<( )` substitutions inside the word, in order. */
  readonly substitutions: readonly ShellScript[];
  /** True when an unquoted `*`, `?` or `[…]` makes bash match the word against file names. */
  readonly glob?: boolean;
  /** True when an unquoted `{a,b}` or `{a..b}` makes bash expand the word into several. */
  readonly brace?: boolean;
}

/** A simple command: every word as written (assignments and wrappers included) and its redirections. */
export interface ShellSimple {
  readonly kind: 'simple';
  readonly words: readonly ShellWord[];
  readonly redirects: readonly ShellRedirect[];
}

/** A `( … )` subshell or `{ …; }`-free grouping, with redirections applied to the whole group. */
export interface ShellGroup {
  readonly kind: 'group';
  readonly body: ShellScript;
  readonly redirects: readonly ShellRedirect[];
}

/** The stages of one pipeline (`a | b | c`); a lone command is a pipeline of one. */
export type ShellPipeline = readonly (ShellSimple | ShellGroup)[];
/** The pipelines of a list, whatever joins them (`;`, `&&`, `||`, `&`, newlines). */
export type ShellScript = readonly ShellPipeline[];

/** A parsed script, or why it could not be parsed. */
export type ShellParse = { readonly script: ShellScript } | { readonly error: string };
