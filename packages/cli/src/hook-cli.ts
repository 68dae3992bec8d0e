/**
 * `warden hook …` on its own: the same commands as in the full CLI (hook-program.ts), without loading
 * the rest of it. A coding assistant starts the hook before and after every tool use, and the full CLI
 * loads the server, the engine and the database drivers first — seconds on a busy machine, paid twice a
 * tool call. bin.ts sends `hook` here.
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { type CliIo, EXIT } from './cli-io.js';
import { describeError } from './describe-error.js';
import { addHookCommands } from './hook-program.js';

/** Runs `warden hook …argv` (argv starts with `hook`), as runCli would; resolves to the exit code. */
export async function runHookCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('warden')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)');
  addHookCommands(program, io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.err(`warden: ${describeError(err)}\n`);
    return EXIT.usage;
  }
  return code;
}
