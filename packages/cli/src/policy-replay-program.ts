import { type Command, Option } from '@commander-js/extra-typings';
import { DEFAULT_REPLAY_SINCE } from '@warden/core';
import { DEFAULT_DB } from '@warden/engine';
import type { CliIo } from './cli-io.js';
import { policyReplay } from './commands/policy-replay.js';

/** Adds `warden policy replay` to the `policy` command; `done` receives its exit code. */
export function addPolicyReplayCommand(policy: Command, io: CliIo, done: (code: number) => void): void {
  policy
    .command('replay')
    .description(
      'decide the recorded calls again under another policy; report every decision that would change',
    )
    .requiredOption('--policy <path>', 'the new policy: a file or folder')
    .addOption(
      new Option('--since <time>', 'calls at or after: an age like 7d or 12h, an ISO time or a date').default(
        DEFAULT_REPLAY_SINCE,
      ),
    )
    .option('--until <time>', 'calls before: an age, an ISO time or a date (default: now)')
    .addOption(
      new Option('--db <location>', 'SQLite file or postgres:// URL').env('WARDEN_DB').default(DEFAULT_DB),
    )
    .option('--agent <name>', "only this agent's calls")
    .option('--limit <n>', 'read at most this many recorded calls (default: all in the window)')
    .option('--json', 'print the report as JSON')
    .option('--progress', 'report progress on stderr even when it is not a terminal')
    .action(async (o) => {
      done(await policyReplay(o, io));
    });
}
