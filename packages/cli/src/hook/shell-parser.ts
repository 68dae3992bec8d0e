/**
 * A small parser for the POSIX-shell-ish command strings coding assistants run: enough structure for a
 * policy to see every command a string would start (across pipes, lists, subshells and command
 * substitutions), with its words after quote removal and its redirections. It never expands variables
 * or globs, never throws, and gives up with an error on what it cannot read (an unbalanced quote or
 * parenthesis, too deep a nesting, too long an input) so that a policy can fail closed on it.
 */

import type {
  ShellGroup,
  ShellParse,
  ShellPipeline,
  ShellRedirect,
  ShellScript,
  ShellSimple,
  ShellWord,
} from './shell-syntax.js';

/** Longest command string parsed; longer ones are a parse error, so parsing stays fast. */
export const MAX_SHELL_COMMAND_LENGTH = 64 * 1024;
/** Deepest nesting of subshells, substitutions and `sh -c` strings; deeper is a parse error. */
export const MAX_SHELL_NESTING = 16;
/** Most simple commands in one string (counting nested ones); more is a parse error. */
export const MAX_SHELL_COMMANDS = 500;

/** Parses `source` at nesting `depth` (0 for a command string, more for an `sh -c` string inside one). */
export function parseShell(source: string, depth = 0): ShellParse {
  if (source.length > MAX_SHELL_COMMAND_LENGTH) {
    return { error: `the command is ${source.length} characters; the limit is ${MAX_SHELL_COMMAND_LENGTH}` };
  }
  try {
    return { script: new ShellParser(source, depth).list(undefined) };
  } catch (err) {
    if (err instanceof ShellSyntaxError) return { error: err.message };
    // Anything else is a bug in this parser; still an answer, never a throw.
    return { error: `the command could not be parsed (${err instanceof Error ? err.message : String(err)})` };
  }
}

class ShellSyntaxError extends Error {}

/**
 * A quoted or expanded part of a word in the word's unquoted skeleton: a NUL, which nothing expands, plus a
 * `]` when the part holds one, so that `.[e"]"nv` still counts as a glob (over-marking is the safe side).
 */
function mask(part: string): string {
  return part.includes(']') ? '\0]' : '\0';
}

/**
 * Marks a word whose unquoted characters (`bare`) bash would glob (`*`, `?`, or a `[` closed later in the
 * word) or brace-expand (a `{` closed later with a `,` or `..` between). Over-marking is safe (the policy
 * then asks a person); index arithmetic rather than a regular expression keeps it linear on hostile input.
 */
function globOrBrace(bare: string, word: ShellWord): ShellWord {
  const open = bare.indexOf('[');
  const glob = /[*?]/.test(bare) || (open >= 0 && bare.lastIndexOf(']') > open);
  const brace0 = bare.indexOf('{');
  const brace1 = bare.lastIndexOf('}');
  const inside = brace0 >= 0 && brace1 > brace0 ? bare.slice(brace0, brace1) : '';
  const brace = inside.includes(',') || inside.includes('..');
  if (!glob && !brace) return word;
  return { ...word, ...(glob ? { glob } : {}), ...(brace ? { brace } : {}) };
}

const BLANK = new Set([' ', '\t']);
/** Characters that end an unquoted word. */
const META = new Set([' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>']);
/** The single-character escapes of `$'…'` strings, as bytes. */
const ANSI_C_ESCAPES: Readonly<Record<string, number>> = {
  a: 0x07,
  b: 0x08,
  e: 0x1b,
  E: 0x1b,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
  '\\': 0x5c,
  "'": 0x27,
  '"': 0x22,
  '?': 0x3f,
};
const REDIRECT = /^(\d*)(&>>|&>|>>|>\||>&|<<<|<<-|<<|<&|<>|>|<)/;

class ShellParser {
  #pos = 0;
  #commands = 0;
  /** `${ }` and `$(( ))` open around the current position (they nest without a new parser). */
  #expansions = 0;
  #heredocs: { delimiter: string; stripTabs: boolean }[] = [];

  constructor(
    readonly src: string,
    readonly depth: number,
  ) {
    if (depth > MAX_SHELL_NESTING) this.fail(`the command nests more than ${MAX_SHELL_NESTING} deep`);
  }

  fail(message: string): never {
    throw new ShellSyntaxError(message);
  }

  /** A list of pipelines up to `close` (a `)` or a backtick) or the end of the input. */
  list(close: ')' | undefined): ShellScript {
    const pipelines: ShellPipeline[] = [];
    let needMore = false; // after `&&`, `||` or `|`: a command must follow
    for (;;) {
      this.skipBlanksAndComments();
      const c = this.src[this.#pos];
      if (c === undefined) {
        if (close) this.fail(`unbalanced "(": no "${close}" before the end of the command`);
        if (needMore) this.fail('the command ends after an operator that needs another command');
        return pipelines;
      }
      if (c === ')') {
        if (!close) this.fail('unbalanced ")": nothing opened it');
        if (needMore) this.fail('an operator before ")" needs another command');
        this.#pos++;
        return pipelines;
      }
      if (c === '\n') {
        this.#pos++;
        this.readHeredocBodies();
        continue;
      }
      if (c === ';' || (c === '&' && this.src[this.#pos + 1] !== '&' && this.src[this.#pos + 1] !== '>')) {
        if (needMore) this.fail(`unexpected "${c}" after an operator`);
        this.#pos += this.src.startsWith(';;', this.#pos) ? 2 : 1;
        continue;
      }
      if (this.src.startsWith('&&', this.#pos) || this.src.startsWith('||', this.#pos) || c === '|') {
        this.fail(
          `unexpected "${this.src.slice(this.#pos, this.#pos + 2).trim()}" with no command before it`,
        );
      }
      pipelines.push(this.pipeline());
      this.skipBlanksAndComments();
      if (this.src.startsWith('&&', this.#pos) || this.src.startsWith('||', this.#pos)) {
        this.#pos += 2;
        needMore = true;
      } else {
        needMore = false;
      }
    }
  }

  pipeline(): ShellPipeline {
    const stages: (ShellSimple | ShellGroup)[] = [this.command()];
    for (;;) {
      this.skipBlanks();
      if (this.src[this.#pos] !== '|' || this.src[this.#pos + 1] === '|') return stages;
      this.#pos += this.src[this.#pos + 1] === '&' ? 2 : 1;
      this.skipBlanksAndNewlines();
      const c = this.src[this.#pos];
      if (c === undefined || c === ')' || c === ';' || c === '&' || c === '|') {
        this.fail('a pipe "|" needs a command after it');
      }
      stages.push(this.command());
    }
  }

  command(): ShellSimple | ShellGroup {
    if (++this.#commands > MAX_SHELL_COMMANDS) this.fail(`more than ${MAX_SHELL_COMMANDS} commands`);
    if (this.src[this.#pos] === '(') {
      this.#pos++;
      const body = this.nested((p) => p.list(')'));
      return { kind: 'group', body, redirects: this.redirectsOnly() };
    }
    const words: ShellWord[] = [];
    const redirects: ShellRedirect[] = [];
    for (;;) {
      this.skipBlanks();
      const c = this.src[this.#pos];
      if (c === undefined || c === '\n' || c === ';' || c === ')') break;
      if (c === '&' && this.src[this.#pos + 1] !== '>') break;
      if (c === '|') break;
      if ((c === '<' || c === '>') && this.src[this.#pos + 1] === '(') {
        words.push(this.processSubstitution());
        continue;
      }
      const r = this.redirect();
      if (r) {
        redirects.push(r);
        continue;
      }
      if (c === '(') this.fail('unexpected "(" inside a command (function definitions are not supported)');
      if (c === '#') {
        this.skipComment();
        continue;
      }
      words.push(this.word());
    }
    if (words.length === 0 && redirects.length === 0) this.fail(`expected a command at offset ${this.#pos}`);
    return { kind: 'simple', words, redirects };
  }

  redirectsOnly(): ShellRedirect[] {
    const out: ShellRedirect[] = [];
    for (;;) {
      this.skipBlanks();
      const r = this.redirect();
      if (!r) return out;
      out.push(r);
    }
  }

  redirect(): ShellRedirect | undefined {
    const m = REDIRECT.exec(this.src.slice(this.#pos, this.#pos + 8));
    if (!m) return undefined;
    const op = m[0];
    this.#pos += op.length;
    this.skipBlanks();
    const c = this.src[this.#pos];
    if (c === undefined || META.has(c)) this.fail(`the redirection "${op}" has no target`);
    const targetWord = this.word();
    const target = targetWord.text;
    const opName = m[2] ?? '';
    if (opName === '<<' || opName === '<<-') {
      this.#heredocs.push({ delimiter: target, stripTabs: opName === '<<-' });
      return { op, target, notAFile: true };
    }
    const dup = (opName === '>&' || opName === '<&') && /^(\d+-?|-)$/.test(target);
    const notAFile = dup || opName === '<<<';
    const { glob, brace } = notAFile ? {} : targetWord;
    return { op, target, notAFile, ...(glob ? { glob } : {}), ...(brace ? { brace } : {}) };
  }

  /** After a newline: the bodies of pending heredocs, up to each delimiter line (or the end: tolerated). */
  readHeredocBodies(): void {
    for (const h of this.#heredocs.splice(0)) {
      for (;;) {
        if (this.#pos >= this.src.length) return;
        let end = this.src.indexOf('\n', this.#pos);
        if (end < 0) end = this.src.length;
        const line = this.src.slice(this.#pos, end);
        this.#pos = Math.min(end + 1, this.src.length);
        if ((h.stripTabs ? line.replace(/^\t+/, '') : line) === h.delimiter) break;
      }
    }
  }

  processSubstitution(): ShellWord {
    const start = this.#pos;
    this.#pos += 2;
    const body = this.nested((p) => p.list(')'));
    return { text: this.src.slice(start, this.#pos), substitutions: [body] };
  }

  nested<T>(parse: (inner: ShellParser) => T): T {
    if (this.depth + 1 > MAX_SHELL_NESTING)
      this.fail(`the command nests more than ${MAX_SHELL_NESTING} deep`);
    const inner = new ShellParser(this.src, this.depth + 1);
    inner.#pos = this.#pos;
    inner.#commands = this.#commands;
    const out = parse(inner);
    this.#pos = inner.#pos;
    this.#commands = inner.#commands;
    return out;
  }

  /** One word: unquoted runs, '…', "…", $'…', backslash escapes, $( ), ${ }, $(( )), backticks. */
  word(): ShellWord {
    let text = '';
    // The word's unquoted characters, with a NUL for each quoted, escaped or expanded part: what bash
    // would brace-expand and glob.
    let bare = '';
    const subs: ShellScript[] = [];
    for (;;) {
      const c = this.src[this.#pos];
      if (c === undefined || META.has(c)) break;
      if (c === '\\') {
        const next = this.src[this.#pos + 1];
        this.#pos += 2;
        if (next !== undefined && next !== '\n') text += next;
        bare += mask(next ?? '');
      } else if (c === "'") {
        const end = this.src.indexOf("'", this.#pos + 1);
        if (end < 0) this.fail("unbalanced ' quote");
        const quoted = this.src.slice(this.#pos + 1, end);
        text += quoted;
        this.#pos = end + 1;
        bare += mask(quoted);
      } else if (c === '"') {
        const quoted = this.doubleQuoted(subs);
        text += quoted;
        bare += mask(quoted);
      } else if (c === '$') {
        const expanded = this.dollar(subs);
        text += expanded;
        bare += mask(expanded);
      } else if (c === '`') {
        text += this.backtick(subs);
        bare += mask('');
      } else {
        text += c;
        bare += c;
        this.#pos++;
      }
    }
    const word: ShellWord = { text, substitutions: subs };
    return globOrBrace(bare, word);
  }

  doubleQuoted(subs: ShellScript[]): string {
    this.#pos++;
    let text = '';
    for (;;) {
      const c = this.src[this.#pos];
      if (c === undefined) this.fail('unbalanced " quote');
      if (c === '"') {
        this.#pos++;
        return text;
      }
      if (c === '\\') {
        const next = this.src[this.#pos + 1];
        this.#pos += 2;
        if (next === undefined) this.fail('unbalanced " quote');
        if (next === '\n') continue;
        text += '$`"\\'.includes(next) ? next : `\\${next}`;
      } else if (c === '$' && this.src[this.#pos + 1] !== "'") {
        text += this.dollar(subs);
      } else if (c === '`') {
        text += this.backtick(subs);
      } else {
        text += c;
        this.#pos++;
      }
    }
  }

  /** `$( )` (parsed), `$(( ))` and `${ }` (kept as written), `$'…'` (decoded), or a lone `$`. */
  dollar(subs: ShellScript[]): string {
    const start = this.#pos;
    const next = this.src[this.#pos + 1];
    if (next === '(' && this.src[this.#pos + 2] === '(') {
      this.#pos++;
      this.expansion(subs, '(', ')');
    } else if (next === '(') {
      this.#pos += 2;
      subs.push(this.nested((p) => p.list(')')));
    } else if (next === '{') {
      this.#pos++;
      this.expansion(subs, '{', '}');
    } else if (next === "'") {
      return this.ansiC();
    } else {
      this.#pos++;
      return '$';
    }
    return this.src.slice(start, this.#pos);
  }

  /**
   * Moves past a `${ … }` or `$(( … ))` that starts at the current `open` bracket. Its text is kept as
   * written, but the substitutions inside it are parsed: `${X:-$(rm -rf /)}` runs the rm.
   */
  expansion(subs: ShellScript[], open: string, close: string): void {
    if (++this.#expansions > MAX_SHELL_NESTING)
      this.fail(`the command nests more than ${MAX_SHELL_NESTING} deep`);
    let depth = 0;
    for (;;) {
      const c = this.src[this.#pos];
      if (c === undefined) this.fail(`unbalanced "${open}": no "${close}" before the end of the command`);
      if (c === '\\') this.#pos += 2;
      else if (c === "'") {
        const end = this.src.indexOf("'", this.#pos + 1);
        if (end < 0) this.fail("unbalanced ' quote");
        this.#pos = end + 1;
      } else if (c === '"') this.doubleQuoted(subs);
      else if (c === '$') this.dollar(subs);
      else if (c === '`') this.backtick(subs);
      else {
        this.#pos++;
        if (c === open) depth++;
        else if (c === close && --depth === 0) break;
      }
    }
    this.#expansions--;
  }

  /**
   * A `$'…'` string, decoded as bash does: `\xHH`, `\NNN` (octal), `\uHHHH`, `\UHHHHHHHH`, `\cX` and the
   * single-letter escapes. The bytes are decoded as UTF-8. Anything Warden cannot decode exactly (another
   * escape, a NUL, bytes that are not UTF-8) is a parse error: a policy must never see `x2e` where bash
   * runs `.`.
   */
  ansiC(): string {
    this.#pos += 2;
    const bytes: number[] = [];
    const text = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
    for (;;) {
      const c = this.src[this.#pos];
      if (c === undefined) this.fail("unbalanced $' quote");
      if (c === "'") {
        this.#pos++;
        break;
      }
      if (c !== '\\') {
        const cp = this.src.codePointAt(this.#pos) as number;
        const ch = String.fromCodePoint(cp);
        text(ch);
        this.#pos += ch.length;
        continue;
      }
      const e = this.src[this.#pos + 1];
      if (e === undefined) this.fail("unbalanced $' quote");
      this.#pos += 2;
      const simple = ANSI_C_ESCAPES[e];
      if (simple !== undefined) bytes.push(simple);
      else if (e >= '0' && e <= '7') bytes.push(this.ansiCDigits(8, 2, Number.parseInt(e, 8)) & 0xff);
      else if (e === 'x') bytes.push(this.ansiCNumber(16, 2, e));
      else if (e === 'u' || e === 'U') {
        const cp = this.ansiCNumber(16, e === 'u' ? 4 : 8, e);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
          this.fail(`$'…' escape \\${e} names no character (${cp.toString(16)})`);
        text(String.fromCodePoint(cp));
      } else if (e === 'c') {
        const x = this.src[this.#pos];
        if (x === undefined || x === "'" || x === '\\' || x.charCodeAt(0) > 0x7e || x.charCodeAt(0) < 0x20)
          this.fail("$'…' escape \\c needs a printable character after it");
        this.#pos++;
        bytes.push(x === '?' ? 0x7f : x.toUpperCase().charCodeAt(0) & 0x1f);
      } else {
        this.fail(`$'…' escape "\\${e}" is not one Warden decodes`);
      }
    }
    if (bytes.includes(0)) this.fail("$'…' string holds a NUL byte (bash would cut the word there)");
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
    } catch {
      return this.fail("$'…' string decodes to bytes that are not UTF-8");
    }
  }

  /** The 1..`max` hex digits after `\x`, `\u` or `\U` as a number; none is a parse error. */
  ansiCNumber(radix: number, max: number, name: string): number {
    const start = this.#pos;
    const value = this.ansiCDigits(radix, max, 0);
    if (this.#pos === start) this.fail(`$'…' escape \\${name} has no hex digits after it`);
    return value;
  }

  /** Reads up to `max` more digits of `radix` onto `value`. */
  ansiCDigits(radix: number, max: number, value: number): number {
    let v = value;
    for (let k = 0; k < max; k++) {
      const d = this.src[this.#pos];
      const n = d === undefined ? Number.NaN : Number.parseInt(d, radix);
      if (Number.isNaN(n)) break;
      v = v * radix + n;
      this.#pos++;
    }
    return v;
  }

  backtick(subs: ShellScript[]): string {
    const start = this.#pos;
    let inner = '';
    for (let i = this.#pos + 1; i < this.src.length; i++) {
      const c = this.src[i];
      if (c === '\\' && i + 1 < this.src.length) {
        const e = this.src[i + 1] as string;
        inner += '$`\\'.includes(e) ? e : `\\${e}`;
        i++;
      } else if (c === '`') {
        this.#pos = i + 1;
        const parsed = parseShell(inner, this.depth + 1);
        if ('error' in parsed) this.fail(parsed.error);
        subs.push(parsed.script);
        return this.src.slice(start, this.#pos);
      } else {
        inner += c;
      }
    }
    return this.fail('unbalanced ` backtick');
  }

  skipBlanks(): void {
    for (;;) {
      const c = this.src[this.#pos];
      if (c !== undefined && BLANK.has(c)) this.#pos++;
      else if (c === '\\' && this.src[this.#pos + 1] === '\n') this.#pos += 2;
      else return;
    }
  }

  skipBlanksAndNewlines(): void {
    for (;;) {
      this.skipBlanks();
      if (this.src[this.#pos] !== '\n') return;
      this.#pos++;
      this.readHeredocBodies();
    }
  }

  skipBlanksAndComments(): void {
    this.skipBlanks();
    if (this.src[this.#pos] === '#') this.skipComment();
  }

  skipComment(): void {
    const end = this.src.indexOf('\n', this.#pos);
    this.#pos = end < 0 ? this.src.length : end;
  }
}
