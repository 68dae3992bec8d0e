/** Where a command writes. Injected so tests run the CLI in-process and read what it printed. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly cwd: string;
  /** stderr is a terminal: long commands show progress there. */
  readonly errIsTty?: boolean;
  /** All of stdin (`warden hook` reads the assistant's hook JSON there); default: the process's stdin. */
  readonly readStdin?: () => Promise<string>;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    cwd: process.cwd(),
    errIsTty: process.stderr.isTTY === true,
  };
}

/** Exit codes: 0 success, 1 the checked thing failed (lint errors, failing tests), 2 bad usage or input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
