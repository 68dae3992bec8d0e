/** The `warden` CLI run in this process, for the command tests. */
import type { CliIo } from '../src/cli-io.js';
import { runCli } from '../src/program.js';
import { useAuditTemplate } from './audit-fixtures.js';

/** Runs `warden …argv` in this process with `cwd` as working directory, collecting what it prints. */
export async function run(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t), cwd };
  const code = await runCli(argv, io);
  return { code, out, err };
}

/**
 * useAuditTemplate(options), each copy with a `run(...argv)` that runs commands with the copy's folder
 * as working directory.
 */
export function useAuditCopies(options: { calls: number; unsigned: number }) {
  const copy = useAuditTemplate(options);
  return () => {
    const fx = copy();
    return { ...fx, run: (...argv: string[]) => run(argv, fx.dir) };
  };
}
