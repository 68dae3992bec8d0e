/**
 * `warden hook …` on its own: a coding assistant runs it around every tool use, so it loads only the
 * hook's modules, not every command's (a third of the time the full CLI takes to start).
 */
import { Command, CommanderError } from '@commander-js/extra-typings';
import { type CliIo, EXIT } from './cli-io.js';
import { describeError } from './describe-error.js';
import { addHookCommands } from './hook-program.js';
import { PACKAGE_VERSION } from './package-version.js';

/** Runs `warden hook …` (`argv` starts with `hook`); resolves to the exit code, as runCli would. */
export async function runHookCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('warden')
    .version(PACKAGE_VERSION)
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
      const shown = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      return shown.includes(err.code) || err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.err(`warden: ${describeError(err)}\n`);
    return EXIT.usage;
  }
  return code;
}
