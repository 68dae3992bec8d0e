import { posix } from 'node:path';
import { isInside, type PathContext, resolvePath } from './project-path.js';
import { parseShell } from './shell-parser.js';
import type { ShellPipeline, ShellRedirect, ShellScript, ShellSimple } from './shell-syntax.js';
import { unwrapCommand } from './shell-wrappers.js';

/** One simple command a shell string would start, after assignments and wrappers (sudo, env…) are peeled. */
export interface ShellCommandFacts {
  /** The basename of the command's first word (`rm` for `/bin/rm`). */
  readonly program: string;
  /** The command's words after quote removal, the program's word first (`["git", "push", "-f"]`). */
  readonly words: readonly string[];
  /** Path-like arguments and redirection targets of this command that resolve outside the project. */
  readonly pathsOutsideProject: readonly string[];
  /** The wrappers peeled off it, outermost first: under `xargs` its real arguments come from stdin. */
  readonly wrappers: readonly string[];
  /** True when a word or redirection of it has an unquoted `*`, `?` or `[…]`: bash replaces it with the
   *  file names it matches (`cat .e*` reads `.env`), which Warden cannot see. */
  readonly globs: boolean;
  /** True when a word or redirection of it has an unquoted `{a,b}` or `{a..b}` (`cat .{e,}nv`). */
  readonly braces: boolean;
}

/** What a policy needs to know about a shell command string (the `shell.exec` call's arguments). */
export interface ShellAnalysis {
  /** The first command's program ('' when there is none). */
  readonly program: string;
  /** Every word of every command (wrappers, assignments and nested commands included) and every file a
   *  redirection names, so "does any word name a credential file" is one condition. */
  readonly words: readonly string[];
  /** Every simple command, across pipes, lists, subshells, `$( )`, backticks and `sh -c` strings. */
  readonly commands: readonly ShellCommandFacts[];
  /** Path-like words (absolute, `~`, `$HOME`, `..`) and redirection targets resolving outside the project. */
  readonly pathsOutsideProject: readonly string[];
  /** Files that output redirections (`>`, `>>`, `2>`, `&>`, `>|`) write outside the project. */
  readonly writesOutsideProject: readonly string[];
  /** True when downloaded content runs as code: `curl … | sh`, `bash <(curl …)`, `sh -c "$(wget …)"`. */
  readonly pipesToShell: boolean;
  /** True when any command runs under sudo (or doas). */
  readonly sudo: boolean;
  /**
   * Every `NAME=value` word that sets a variable for a command or for the shell (`PATH=. ls`,
   * `GIT_PAGER='sh -c …' git log`, `env X=1 cmd`, a lone `IFS=x`): it can change what a listed command runs.
   */
  readonly assignments: readonly string[];
  /** True when any word or redirection anywhere in the string is globbed (see {@link ShellCommandFacts}). */
  readonly globs: boolean;
  /** True when any word or redirection anywhere in the string is brace-expanded. */
  readonly braces: boolean;
  /** Why the string could not be parsed; the rest is empty then, and a policy should block. */
  readonly parseError?: string;
}

/** Harmless pseudo-devices: redirecting to or reading them is not touching files outside the project. */
const PSEUDO_DEVICES = /^\/dev\/(null|zero|u?random|stdin|stdout|stderr|tty|fd\/\d+)$/;
const DOWNLOADERS = new Set(['curl', 'wget', 'fetch', 'aria2c', 'http', 'https', 'xh', 'lwp-request']);
const SHELLS = /^(sh|bash|zsh|dash|ksh|mksh|ash|fish|csh|tcsh)$/;
const INTERPRETERS =
  /^(python[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|deno|bun|php[0-9.]*|pwsh|powershell|lua[0-9.]*)$/;
/** `NAME=value` (also `NAME+=`, `NAME[i]=`): a variable assignment before or instead of a command. */
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;
/** Commands that run their arguments as code in the current shell. */
const EVALUATORS = new Set(['eval', 'source', '.']);

interface Facts extends ShellCommandFacts {
  readonly readsCodeFromStdin: boolean;
}

/** The directory commands run in: known, or unknown after `cd "$X"` (then `unknown` is its text). */
interface Dir {
  readonly cwd: string;
  readonly unknown?: string;
}

interface Acc {
  readonly where: PathContext;
  /** Moved by `cd`/`pushd`/`popd`; restored after subshells, substitutions and pipeline stages. */
  dir: Dir;
  readonly pushed: Dir[];
  readonly commands: Facts[];
  readonly words: string[];
  readonly outside: Set<string>;
  readonly writesOutside: Set<string>;
  pipesToShell: boolean;
  sudo: boolean;
  globs: boolean;
  braces: boolean;
  readonly assignments: string[];
  parseError: string | undefined;
  /** Characters of words recorded so far (words and commands), against {@link MAX_SHELL_WORD_CHARS}. */
  chars: number;
}

/**
 * Most characters of words one analysis records. Nested substitutions repeat their text in the word around
 * them, so a 64 KiB command could otherwise make a call of megabytes (over the server's body limit).
 */
export const MAX_SHELL_WORD_CHARS = 256 * 1024;

class TooLarge extends Error {}

/** Counts recorded words against the bound; past it the analysis stops with a parse error. */
function count(acc: Acc, words: readonly string[]): void {
  for (const w of words) acc.chars += w.length + 4;
  if (acc.chars > MAX_SHELL_WORD_CHARS) throw new TooLarge();
}

/** Parses and analyses a shell command string. Pure; never throws; bounded in time by the parser's limits. */
export function analyzeShellCommand(command: string, where: PathContext): ShellAnalysis {
  const parsed = parseShell(command);
  const acc: Acc = {
    where,
    dir: { cwd: where.cwd },
    pushed: [],
    commands: [],
    words: [],
    outside: new Set(),
    writesOutside: new Set(),
    pipesToShell: false,
    sudo: false,
    globs: false,
    braces: false,
    assignments: [],
    parseError: 'error' in parsed ? parsed.error : undefined,
    chars: 0,
  };
  try {
    if ('script' in parsed) walkScript(parsed.script, 0, acc);
  } catch (err) {
    if (err instanceof TooLarge) {
      acc.parseError = `the command's words add up to more than ${MAX_SHELL_WORD_CHARS / 1024} KiB`;
    } else {
      // A bug here must not let a command through unread: it becomes a parse error, which policies block.
      acc.parseError = `the command could not be analysed (${err instanceof Error ? err.message : String(err)})`;
    }
  }
  if (acc.parseError !== undefined) {
    const empty = { program: '', words: [], commands: [], pathsOutsideProject: [], writesOutsideProject: [] };
    const flags = { pipesToShell: false, sudo: false, assignments: [], globs: false, braces: false };
    return { ...empty, ...flags, parseError: acc.parseError };
  }
  return {
    program: acc.commands[0]?.program ?? '',
    words: acc.words,
    commands: acc.commands.map(({ program, words, pathsOutsideProject, wrappers, globs, braces }) => ({
      program,
      words,
      pathsOutsideProject,
      wrappers,
      globs,
      braces,
    })),
    pathsOutsideProject: [...acc.outside],
    writesOutsideProject: [...acc.writesOutside],
    pipesToShell: acc.pipesToShell,
    sudo: acc.sudo,
    assignments: acc.assignments,
    globs: acc.globs,
    braces: acc.braces,
  };
}

/** Walks every pipeline; a downloader stage followed by a stage that reads code from stdin is flagged. */
function walkScript(script: ShellScript, depth: number, acc: Acc): void {
  for (const pipeline of script) {
    let downloaded = false;
    for (const stage of pipeline) {
      const before = acc.commands.length;
      // Each stage of a real pipeline runs in a subshell: a `cd` there does not move the next command.
      const main =
        pipeline.length > 1
          ? inSubshell(acc, () => walkStage(stage, depth, acc))
          : walkStage(stage, depth, acc);
      if (downloaded && main.some((c) => c.readsCodeFromStdin)) acc.pipesToShell = true;
      if (acc.commands.slice(before).some((c) => DOWNLOADERS.has(c.program))) downloaded = true;
    }
  }
}

function walkStage(stage: ShellPipeline[number], depth: number, acc: Acc): Facts[] {
  if (stage.kind === 'simple') return walkSimple(stage, depth, acc);
  const before = acc.commands.length;
  noteRedirects(stage.redirects, acc);
  // `( … ) > .e*`: the group's redirection expands for every command in it.
  const globs = stage.redirects.some((r) => r.glob === true);
  const braces = stage.redirects.some((r) => r.brace === true);
  if (globs) acc.globs = true;
  if (braces) acc.braces = true;
  inSubshell(acc, () => walkScript(stage.body, depth + 1, acc));
  const inner = acc.commands.slice(before);
  for (const c of inner) Object.assign(c, { globs: c.globs || globs, braces: c.braces || braces });
  return inner;
}

/** Runs `walk` and then puts the directory back, as a subshell would. */
function inSubshell<T>(acc: Acc, walk: () => T): T {
  const dir = acc.dir;
  const pushed = acc.pushed.length;
  const out = walk();
  acc.dir = dir;
  acc.pushed.length = pushed;
  return out;
}

/** The paths as the current command sees them: relative ones resolve against the current directory. */
function here(acc: Acc): PathContext {
  return { ...acc.where, cwd: acc.dir.cwd };
}

/** One simple command: its words, wrappers, `sh -c` string and substitutions. Returns its main commands. */
function walkSimple(simple: ShellSimple, depth: number, acc: Acc): Facts[] {
  for (const w of simple.words) acc.words.push(w.text);
  count(acc, acc.words.slice(acc.words.length - simple.words.length));
  const redirectOutside = noteRedirects(simple.redirects, acc);
  const unwrapped = unwrapCommand(simple.words.map((w) => w.text));
  if (unwrapped.sudo) acc.sudo = true;
  const globs = [...simple.words, ...simple.redirects].some((w) => w.glob === true);
  const braces = [...simple.words, ...simple.redirects].some((w) => w.brace === true);
  if (globs) acc.globs = true;
  if (braces) acc.braces = true;
  const main: Facts[] = [];
  const argv = unwrapped.argv;
  for (const w of simple.words.slice(0, simple.words.length - argv.length)) {
    if (ASSIGNMENT.test(w.text)) acc.assignments.push(w.text);
  }
  const first = argv[0];
  let skipWord = -1; // an `sh -c` string's substitutions are walked when the string itself is parsed
  if (first !== undefined) {
    const program = posix.basename(first) || first;
    const scriptAt = SHELLS.test(program) ? shellScriptIndex(argv) : undefined;
    const script = scriptAt === undefined ? undefined : (argv[scriptAt] as string);
    if (scriptAt !== undefined) skipWord = simple.words.length - argv.length + scriptAt;
    if (script !== undefined) {
      const inner = parseShell(script, depth + 1);
      if ('error' in inner) acc.parseError ??= `in the ${program} -c string: ${inner.error}`;
      else {
        const before = acc.commands.length;
        // The string runs in a child shell: a `cd` in it does not move the commands after this one.
        inSubshell(acc, () => walkScript(inner.script, depth + 1, acc));
        main.push(...acc.commands.slice(before));
      }
    } else {
      // A command running outside the project (after `cd /tmp`, or in an unknown directory) lists that
      // directory too: any relative word it has may name a file there.
      const dir = acc.dir.unknown ?? (isInside(acc.dir.cwd, acc.where.projectDir) ? undefined : acc.dir.cwd);
      const outside = [
        ...new Set([
          ...(dir === undefined ? [] : [dir]),
          ...argv.slice(1).flatMap((w) => outsidePaths(w, here(acc))),
          ...redirectOutside,
        ]),
      ];
      for (const p of outside) acc.outside.add(p);
      const facts: Facts = {
        program,
        words: argv,
        pathsOutsideProject: outside,
        wrappers: unwrapped.wrappers,
        globs,
        braces,
        readsCodeFromStdin: readsCode(program, argv),
      };
      count(acc, argv);
      acc.commands.push(facts);
      main.push(facts);
      if (program === 'cd' || program === 'pushd' || program === 'popd') changeDirectory(program, argv, acc);
    }
  }
  const wordsOffset = simple.words.length - argv.length;
  simple.words.forEach((w, i) => {
    if (i === skipWord) return;
    for (const sub of w.substitutions) {
      const before = acc.commands.length;
      inSubshell(acc, () => walkScript(sub, depth + 1, acc));
      const runsIt = i === wordsOffset || (first !== undefined && runsArgumentsAsCode(posix.basename(first)));
      if (runsIt && acc.commands.slice(before).some((c) => DOWNLOADERS.has(c.program)))
        acc.pipesToShell = true;
    }
  });
  return main;
}

/**
 * Moves the current directory for the commands after a `cd`/`pushd`/`popd`. A target Warden cannot
 * resolve (`cd "$X"`, `cd -`, `cd ~user`) makes the directory unknown, which lists it as outside.
 */
function changeDirectory(program: string, argv: readonly string[], acc: Acc): void {
  if (program === 'popd') {
    acc.dir = acc.pushed.pop() ?? { cwd: acc.dir.cwd, unknown: 'popd' };
    return;
  }
  if (program === 'pushd') acc.pushed.push(acc.dir);
  const target = argv.slice(1).find((w) => !/^-[LPe@]+$/.test(w)) ?? '~';
  const unresolvable =
    target === '-' ||
    /^~[^/]/.test(target) ||
    /[$`]/.test(target.replace(/^(\$HOME|\$\{HOME\})(?=\/|$)/, ''));
  acc.dir = unresolvable ? { cwd: acc.dir.cwd, unknown: target } : { cwd: resolvePath(target, here(acc)) };
}

/** Records redirection targets; returns the file targets outside the project. */
function noteRedirects(redirects: readonly ShellRedirect[], acc: Acc): string[] {
  const out: string[] = [];
  for (const r of redirects) {
    if (r.notAFile) continue;
    acc.words.push(r.target);
    const abs = resolvePath(r.target, here(acc));
    if (PSEUDO_DEVICES.test(abs) || isInside(abs, acc.where.projectDir)) continue;
    out.push(abs);
    acc.outside.add(abs);
    if (r.op.includes('>')) acc.writesOutside.add(abs);
  }
  return out;
}

/**
 * The absolute paths a word names outside the project: the word itself, the value of `--opt=` / `of=`
 * (after the first and after the last `=`), the text after a `:` (`--x=a:/etc`, `host:/path`), and for a
 * short option the value glued to it after one or two option letters (`-t/home/u`, `-st/home/u`,
 * `-C/dir`, `-F/file`): Warden does not know each program's options, so each reading is a candidate.
 */
function outsidePaths(word: string, where: PathContext): string[] {
  const candidates = new Set([word]);
  const eq = word.indexOf('=');
  if (eq > 0 && /^(-{1,2}[A-Za-z0-9-]+|[A-Za-z_][A-Za-z0-9_]*)=/.test(word)) {
    candidates.add(word.slice(eq + 1));
    candidates.add(word.slice(word.lastIndexOf('=') + 1));
  }
  if (/^-[^-]/.test(word)) {
    candidates.add(word.slice(2));
    candidates.add(word.slice(3));
    const lastEq = word.lastIndexOf('=');
    if (lastEq > 0) candidates.add(word.slice(lastEq + 1));
  }
  // After a `:`, but not a URL's `://` (a host is not a path).
  for (let i = word.indexOf(':'); i >= 0; i = word.indexOf(':', i + 1))
    if (!word.startsWith('//', i + 1)) candidates.add(word.slice(i + 1));
  const out: string[] = [];
  for (const c of candidates) {
    if (!pathLike(c)) continue;
    // `~user/…` cannot be resolved without the user database: it is outside the project by definition.
    const abs = /^~[^/]/.test(c) ? c : resolvePath(c, where);
    if (!PSEUDO_DEVICES.test(abs) && !isInside(abs, where.projectDir)) out.push(abs);
  }
  return out;
}

function pathLike(s: string): boolean {
  if (s.includes('://')) return false;
  return (
    s.startsWith('/') ||
    s.startsWith('~') ||
    /^\$(HOME|\{HOME\})(\/|$)/.test(s) ||
    s === '..' ||
    s.startsWith('../') ||
    s.includes('/../') ||
    s.endsWith('/..')
  );
}

/** For `sh -c 'script'` (also `-lc`, `-ec`…): the script's index; undefined for a file or stdin. */
function shellScriptIndex(argv: readonly string[]): number | undefined {
  let wantsString = false;
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (w === '--') return wantsString && i + 1 < argv.length ? i + 1 : undefined;
    if (!/^[-+]/.test(w)) return wantsString ? i : undefined;
    if (/^-[A-Za-z]*c[A-Za-z]*$/.test(w)) wantsString = true;
    else if (w === '-o' || w === '+o' || w === '-O' || w === '+O') i++;
  }
  return undefined;
}

/** True when an interpreter in a pipeline would read the code it runs from stdin. */
function readsCode(program: string, argv: readonly string[]): boolean {
  const shell = SHELLS.test(program);
  if (!shell && !INTERPRETERS.test(program)) return false;
  for (let i = 1; i < argv.length; i++) {
    const w = argv[i] as string;
    if (w === '-' || w === '/dev/stdin') return true;
    if (w === '--') return argv[i + 1] === undefined || argv[i + 1] === '-';
    if (!w.startsWith('-')) return false; // a script file
    if (shell && /^-[A-Za-z]*s/.test(w)) return true;
    if (shell && /^-[A-Za-z]*c/.test(w)) return false;
    if (!shell && /^(-[ceEmpr]|--eval|--print|--command)$/.test(w)) return false;
    if (/^(-o|-O|-W|-X|-I|-r)$/.test(w)) i++;
  }
  return true;
}

function runsArgumentsAsCode(program: string): boolean {
  return EVALUATORS.has(program) || SHELLS.test(program) || INTERPRETERS.test(program);
}
