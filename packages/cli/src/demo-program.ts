import type { Command } from '@commander-js/extra-typings';
import type { CliIo } from './cli-io.js';
import { demo } from './commands/demo.js';

/** Adds `warden demo`; `done` receives its exit code. */
export function addDemoCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'start a server on a fresh database and watch a scripted agent meet every kind of decision; then look around in the dashboard (Ctrl-C stops it)',
    )
    .option(
      '--port <n>',
      'port to listen on (default 7400, or a free one when 7400 is taken; 0 picks a free one)',
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--dir <folder>', 'a new or empty folder for the database (default: a new temporary folder)')
    .option('--auto-approve', 'unattended: a demo approver approves the held refund after a moment')
    .option('--exit', 'stop once the story is told instead of serving until Ctrl-C')
    .action(async (o) => {
      done(await demo(o, io));
    });
}
