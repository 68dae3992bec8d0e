/**
 * Reads the README (or a page of docs/) the way a user does for the README command test: its sections in order, each with
 * the fenced shell blocks (```sh, ```bash, ```shell, ```console) whose commands a user types, the files
 * the README tells them to write, and the `<!-- readme-test: … -->` markers that say what a block needs.
 *
 * Markers (an HTML comment on its own line, right before the block it is about):
 *   skip (reason)                  the block cannot run here; the reason is required and printed
 *   skip "TEXT" (reason)           only the block's commands containing TEXT cannot run here
 *   expect-exit N                  every command of the block exits N (the README says why)
 *   expect-exit N "TEXT"           the commands containing TEXT exit N
 *   file PATH                      the next block is a file the README asks the user to write, at PATH
 */

/** What a marker says about one command of the block after it. */
export interface CommandMarks {
  /** Why it cannot run here, when it cannot. */
  readonly skip?: string;
  /** The exit code the README says it ends with (default 0). */
  readonly expectExit: number;
}

/** One command a user types: a logical line of a shell block (continuations joined). */
export interface ReadmeCommand extends CommandMarks {
  /** The command as the README writes it (a logical line: `\` continuations joined). */
  readonly text: string;
  /** The README line it starts on (1-based). */
  readonly line: number;
}

/** A file the README asks the user to write (a block after a `file PATH` marker). */
export interface ReadmeFile {
  readonly path: string;
  readonly content: string;
  readonly line: number;
}

/** One step of a section, in README order. */
export type ReadmeStep =
  | { readonly kind: 'command'; readonly command: ReadmeCommand }
  | ({ readonly kind: 'file' } & ReadmeFile);

/** A heading and the steps under it (up to the next heading). */
export interface ReadmeSection {
  readonly title: string;
  readonly steps: ReadmeStep[];
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);
const MARKER = /^<!--\s*readme-test:\s*(.*?)\s*-->$/;
const FENCE = /^(\s*)(`{3,})\s*([\w-]*)/;

/** Block-level marks, before they are applied to each command of the block. */
interface BlockMarks {
  readonly skips: { readonly text?: string; readonly reason: string }[];
  readonly exits: { readonly text?: string; readonly code: number }[];
  file?: string;
}

/**
 * Splits a page into sections of steps; throws, naming the page (`source`) and line, on a marker it does
 * not understand.
 */
export function parseReadme(markdown: string, source = 'README'): ReadmeSection[] {
  const lines = markdown.split('\n');
  const sections: ReadmeSection[] = [{ title: '(top)', steps: [] }];
  let marks: BlockMarks = emptyMarks();
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const trimmed = raw.trim();
    const marker = MARKER.exec(trimmed);
    if (marker) {
      addMark(marks, marker[1] as string, `${source} line ${i + 1}`);
      continue;
    }
    const fence = FENCE.exec(raw);
    if (fence) {
      const end = closingFence(lines, i, fence[1] as string, fence[2] as string, source);
      const body = dedent(lines.slice(i + 1, end), (fence[1] as string).length);
      const section = sections[sections.length - 1] as ReadmeSection;
      const lang = (fence[3] as string).toLowerCase();
      if (marks.file) {
        section.steps.push({ kind: 'file', path: marks.file, content: `${body.join('\n')}\n`, line: i + 1 });
      } else if (SHELL_LANGS.has(lang)) {
        const commands = commandsOf(body, i + 2, lang === 'console');
        for (const c of commands) {
          section.steps.push({ kind: 'command', command: { ...c, ...marksFor(marks, c.text) } });
        }
        const stale = [...marks.skips, ...marks.exits].find(
          (m) => m.text !== undefined && !commands.some((c) => c.text.includes(m.text as string)),
        );
        if (stale)
          throw new Error(`${source} line ${i + 1}: no command of the block contains "${stale.text}"`);
      } else if (marks.skips.length > 0 || marks.exits.length > 0) {
        throw new Error(
          `${source} line ${i + 1}: a readme-test marker before a block that is not a shell block`,
        );
      }
      marks = emptyMarks();
      i = end;
      continue;
    }
    if (/^#{1,6}\s/.test(raw)) sections.push({ title: raw.replace(/^#+\s*/, ''), steps: [] });
    else if (trimmed !== '' && hasMarks(marks)) {
      throw new Error(`${source} line ${i + 1}: a readme-test marker must come right before its block`);
    }
  }
  return sections.filter((s) => s.steps.length > 0);
}

function emptyMarks(): BlockMarks {
  return { skips: [], exits: [] };
}

function hasMarks(m: BlockMarks): boolean {
  return m.skips.length > 0 || m.exits.length > 0 || m.file !== undefined;
}

/** Reads one marker into `marks`; anything else is an error, so a typo cannot silently skip nothing. */
function addMark(marks: BlockMarks, text: string, where: string): void {
  let m = /^skip(?:\s+"([^"]+)")?\s+\((.+)\)$/.exec(text);
  if (m) {
    marks.skips.push({ ...(m[1] ? { text: m[1] } : {}), reason: m[2] as string });
    return;
  }
  m = /^expect-exit\s+(\d+)(?:\s+"([^"]+)")?$/.exec(text);
  if (m) {
    marks.exits.push({ code: Number(m[1]), ...(m[2] ? { text: m[2] } : {}) });
    return;
  }
  m = /^file\s+(\S+)$/.exec(text);
  if (m) {
    marks.file = m[1] as string;
    return;
  }
  throw new Error(
    `${where}: unknown readme-test marker "${text}" (skip (reason), skip "TEXT" (reason), expect-exit N ["TEXT"], file PATH)`,
  );
}

function marksFor(marks: BlockMarks, text: string): CommandMarks {
  const skip = marks.skips.find((s) => s.text === undefined || text.includes(s.text));
  const exit = marks.exits.find((e) => e.text === undefined || text.includes(e.text));
  return { ...(skip ? { skip: skip.reason } : {}), expectExit: exit?.code ?? 0 };
}

function closingFence(
  lines: string[],
  open: number,
  indent: string,
  ticks: string,
  source = 'README',
): number {
  for (let j = open + 1; j < lines.length; j++) {
    if ((lines[j] as string).trim() === ticks && (lines[j] as string).startsWith(indent)) return j;
  }
  throw new Error(`${source} line ${open + 1}: a fenced block that never closes`);
}

function dedent(body: string[], width: number): string[] {
  return body.map((l) => (l.slice(0, width).trim() === '' ? l.slice(width) : l));
}

/**
 * The commands of a shell block: each logical line (a trailing `\` continues it) that is not blank and
 * not a comment. In a console block only `$ ` lines are commands; the rest is what they print.
 */
function commandsOf(body: string[], firstLine: number, console: boolean): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  for (let j = 0; j < body.length; j++) {
    let text = body[j] as string;
    const line = firstLine + j;
    if (console) {
      if (!text.startsWith('$ ')) continue;
      text = text.slice(2);
    }
    while (text.trimEnd().endsWith('\\') && j + 1 < body.length) {
      text = `${text.trimEnd().slice(0, -1).trimEnd()} ${(body[++j] as string).trim()}`;
    }
    if (text.trim() === '' || text.trim().startsWith('#')) continue;
    out.push({ text: text.trim(), line });
  }
  return out;
}

/** A TypeScript example of the README: its code and the line its fence opens on. */
export interface ReadmeSnippet {
  readonly line: number;
  readonly code: string;
}

/** The ```ts / ```typescript blocks of a page, in order. */
export function typescriptSnippets(markdown: string, source = 'README'): ReadmeSnippet[] {
  const lines = markdown.split('\n');
  const out: ReadmeSnippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i] as string);
    if (!fence) continue;
    const end = closingFence(lines, i, fence[1] as string, fence[2] as string, source);
    if (['ts', 'typescript'].includes((fence[3] as string).toLowerCase())) {
      out.push({
        line: i + 1,
        code: dedent(lines.slice(i + 1, end), (fence[1] as string).length).join('\n'),
      });
    }
    i = end;
  }
  return out;
}
