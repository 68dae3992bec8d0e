/**
 * Peeling what only wraps a command — shell keywords, `VAR=x` assignments and wrapper programs such as
 * `sudo -u root`, `env FOO=1`, `nohup`, `time`, `nice -n 5`, `xargs -0` — so a policy sees the program
 * that really runs (`rm` in `sudo env X=1 nice -n 5 rm -rf /`).
 */

/** How a wrapper's options are read: which take a value, and how many operands precede the command. */
interface WrapperSpec {
  /** Short options (letters) that take a value, attached (`-uroot`) or as the next word. */
  readonly shortValue: string;
  /** Long options that take a value when not written as `--name=value`. */
  readonly longValue: readonly string[];
  /** Operands before the command (`timeout 5s cmd`: 1). */
  readonly operands?: number;
  /** `env` also skips `VAR=x` words. */
  readonly assignments?: boolean;
  /** Runs the command as another user. */
  readonly elevates?: boolean;
  /** `nice -10 cmd`: a numeric option is a flag. */
  readonly numericFlags?: boolean;
}

const WRAPPERS: Readonly<Record<string, WrapperSpec>> = {
  sudo: {
    shortValue: 'ugChpDrtTUR',
    longValue: [
      '--user',
      '--group',
      '--close-from',
      '--host',
      '--prompt',
      '--chdir',
      '--role',
      '--type',
      '--chroot',
    ],
    elevates: true,
  },
  doas: { shortValue: 'uC', longValue: [], elevates: true },
  env: { shortValue: 'uCS', longValue: ['--unset', '--chdir', '--split-string'], assignments: true },
  nohup: { shortValue: '', longValue: [] },
  time: { shortValue: 'fo', longValue: ['--format', '--output'] },
  command: { shortValue: '', longValue: [] },
  exec: { shortValue: 'a', longValue: [] },
  nice: { shortValue: 'n', longValue: ['--adjustment'], numericFlags: true },
  xargs: {
    shortValue: 'ILnPsdEa',
    longValue: [
      '--max-args',
      '--max-procs',
      '--delimiter',
      '--arg-file',
      '--max-lines',
      '--max-chars',
      '--eof',
    ],
  },
  timeout: { shortValue: 'sk', longValue: ['--signal', '--kill-after'], operands: 1 },
};

/** Words that open or close shell constructs in front of a command (`if`, `then`, `!`, `{`…). */
const KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'while',
  'until',
  '!',
  '{',
  '}',
  'esac',
]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

/** A command's words with keywords, assignments and wrappers peeled; `sudo` when one elevated it. */
export interface UnwrappedCommand {
  readonly argv: readonly string[];
  /** The wrappers peeled, outermost first (`["sudo", "xargs"]`). */
  readonly wrappers: readonly string[];
  readonly sudo: boolean;
}

/** Peels keywords, leading assignments and wrappers. A wrapper with no command after it is the command. */
export function unwrapCommand(words: readonly string[]): UnwrappedCommand {
  let i = 0;
  while (i < words.length && KEYWORDS.has(words[i] as string)) i++;
  while (i < words.length && ASSIGNMENT.test(words[i] as string)) i++;
  let sudo = false;
  const wrappers: string[] = [];
  for (let guard = 0; guard < 64 && i < words.length; guard++) {
    const name = basename(words[i] as string);
    const spec = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name] : undefined;
    if (spec === undefined) break;
    const next = skipWrapper(words, i + 1, spec);
    if (spec.elevates) sudo = true;
    if (next >= words.length) break; // nothing wrapped: the wrapper itself runs (`sudo -i`, `env`)
    wrappers.push(name);
    i = next;
  }
  return { argv: words.slice(i), wrappers, sudo };
}

/** The index of the wrapped command's first word, after the wrapper's options and operands. */
function skipWrapper(words: readonly string[], from: number, spec: WrapperSpec): number {
  let i = from;
  while (i < words.length) {
    const w = words[i] as string;
    if (w === '--') return i + 1 + (spec.operands ?? 0);
    if (spec.assignments && ASSIGNMENT.test(w)) {
      i++;
    } else if (w.startsWith('--')) {
      i += spec.longValue.includes(w) ? 2 : 1;
    } else if (w.startsWith('-') && w.length > 1) {
      i += spec.numericFlags && /^-\d+$/.test(w) ? 1 : shortOptionWords(w, spec.shortValue);
    } else {
      return i + (spec.operands ?? 0);
    }
  }
  return i;
}

/** 2 when a cluster of short options (`-nu`) ends in one that takes its value from the next word; else 1. */
function shortOptionWords(cluster: string, valued: string): number {
  for (let k = 1; k < cluster.length; k++) {
    if (valued.includes(cluster[k] as string)) return k === cluster.length - 1 ? 2 : 1;
  }
  return 1;
}

function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash < 0 ? word : word.slice(slash + 1);
}
