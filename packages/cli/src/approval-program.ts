import { type Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { APPROVAL_STATUSES } from '@warden/core';
import type { CliIo } from './cli-io.js';
import { DEFAULT_URL } from './commands/api-client.js';
import {
  approvalsCancel,
  approvalsList,
  approvalsOverride,
  approvalsShow,
  approvalsVote,
  approvalsWait,
} from './commands/approvals.js';
import { grantsAdd, grantsList, grantsRevoke } from './commands/grants.js';

/** Every command here talks to a running server as the key's principal, so it needs both. */
export function withApi<Args extends unknown[], Opts extends OptionValues, Globals extends OptionValues>(
  cmd: Command<Args, Opts, Globals>,
) {
  // Generic so `--url`/`--key` join the options type each command's action is checked against.
  return cmd
    .addOption(new Option('--url <url>', 'the Warden server').env('WARDEN_URL').default(DEFAULT_URL))
    .addOption(
      new Option('--key <key>', 'your API key (approver or admin; never printed)').env('WARDEN_KEY'),
    );
}

/** Receives a command's exit code. */
export type Done = (code: number) => void;

/** Adds `warden approvals …` and `warden grants …`, clients of a running server; `done` gets the exit code. */
export function addApprovalCommands(program: Command, io: CliIo, done: Done): void {
  const approvals = program
    .command('approvals')
    .description('list and decide approval requests (a client of `warden serve`)');
  withApi(approvals.command('list'))
    .description('list approval requests, newest first')
    .addOption(
      new Option('--status <status>', 'only requests in this state')
        .choices([...APPROVAL_STATUSES, 'all'])
        .default('pending'),
    )
    .option('--agent <name>', 'only this agent')
    .option('--session <id>', 'only this session')
    .option('--limit <n>', 'at most this many (default 100, at most 1000)')
    .option('--cursor <cursor>', 'continue after the previous page (printed as `more: --cursor …`)')
    .option('--json', 'print the page as JSON')
    .action(async (o) => done(await approvalsList(o, io)));
  withApi(approvals.command('show'))
    .description('show one request: requirements, votes, progress, arguments')
    .argument('<id>', 'the request id (apr_…)')
    .option('--json', 'print it as JSON')
    .action(async (id, o) => done(await approvalsShow(id, o, io)));
  for (const vote of ['approve', 'deny'] as const) {
    withApi(approvals.command(vote))
      .description(
        vote === 'approve'
          ? 'approve a pending request as your key (nobody with a stake in it may)'
          : 'deny a pending request as your key',
      )
      .argument('<id>', 'the request id (apr_…)')
      .option('--reason <text>', 'recorded with your vote (some rules require one)')
      .option('--json', 'print the request as JSON')
      .action(async (id, o) => done(await approvalsVote(id, vote, o, io)));
  }
  withApi(approvals.command('override'))
    .description('decide a request alone whatever its quorum (admin keys; always audited)')
    .argument('<id>', 'the request id (apr_…)')
    .option('--approve', 'approve it')
    .option('--deny', 'deny it')
    .requiredOption('--reason <text>', 'why the normal approvers were bypassed')
    .option('--json', 'print the request as JSON')
    .action(async (id, o) => done(await approvalsOverride(id, o, io)));
  withApi(approvals.command('cancel'))
    .description('withdraw a pending request (the requesting agent or an admin)')
    .argument('<id>', 'the request id (apr_…)')
    .option('--reason <text>', 'recorded in the audit trail')
    .option('--json', 'print the request as JSON')
    .action(async (id, o) => done(await approvalsCancel(id, o, io)));
  withApi(approvals.command('wait'))
    .description('wait for a decision: exit 0 approved, 1 not approved, 3 still pending')
    .argument('<id>', 'the request id (apr_…)')
    .option('--timeout <duration>', 'give up after this long', '30s')
    .option('--json', 'print the request as JSON')
    .action(async (id, o) => done(await approvalsWait(id, o, io)));
  addGrantCommands(program, io, done);
}

function addGrantCommands(program: Command, io: CliIo, done: Done): void {
  const grants = program
    .command('grants')
    .description('let an agent use a tool the default blocks, for a while');
  withApi(grants.command('add'))
    .description('grant a tool; lifts the default block only (block rules and reviews still apply)')
    .requiredOption('--agent <name>', 'the agent')
    .requiredOption('--tool <glob>', 'the tool, or a glob such as "reports.*"')
    .option('--session <id>', 'only inside this session (then --ttl defaults to 8h)')
    .option('--ttl <duration>', 'how long it lasts, e.g. 1h (at most 30d; needed without --session)')
    .option('--when <cel>', 'only for calls where this CEL condition holds')
    .requiredOption('--reason <text>', 'why the agent needs it (recorded)')
    .option('--json', 'print the grant as JSON')
    .action(async (o) => done(await grantsAdd(o, io)));
  withApi(grants.command('list'))
    .description('list grants in force, newest first')
    .option('--agent <name>', 'only this agent')
    .option('--all', 'include revoked and expired grants')
    .option('--json', 'print them as JSON')
    .action(async (o) => done(await grantsList(o, io)));
  withApi(grants.command('revoke'))
    .description('revoke a grant at once, on every instance')
    .argument('<id>', 'the grant id (grt_…)')
    .option('--reason <text>', 'recorded in the audit trail')
    .option('--json', 'print the grant as JSON')
    .action(async (id, o) => done(await grantsRevoke(id, o, io)));
}
