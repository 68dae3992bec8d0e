import { type Command, Option } from '@commander-js/extra-typings';
import { EFFECTS, EXPORT_FORMATS } from '@warden/core';
import { DEFAULT_DB } from '@warden/engine';
import type { CliIo } from './cli-io.js';
import { auditCheckpoint } from './commands/audit-checkpoint.js';
import { auditExport } from './commands/audit-export.js';
import { auditHoldList, auditHoldPlace, auditHoldRelease } from './commands/audit-hold.js';
import { auditPurge } from './commands/audit-purge.js';
import { auditQuery, DEFAULT_QUERY_LIMIT } from './commands/audit-query.js';
import { auditVerify } from './commands/audit-verify.js';

const dbOption = () =>
  new Option('--db <location>', 'SQLite file or postgres:// URL').env('WARDEN_DB').default(DEFAULT_DB);
const keysOption = () =>
  new Option('--keys <file>', 'key file of the engine (default: <db>.keys.json)').env('WARDEN_KEYS');
const fromOption = () =>
  new Option('--from <time>', 'events at or after: ISO time, a date, or an age like 7d or 12h');
const toOption = () => new Option('--to <time>', 'events before: ISO time, a date, or an age like 1h');

/** Adds `warden audit …`; `done` receives each command's exit code. */
export function addAuditCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  const audit = program.command('audit').description('verify, search, export and retain the audit trail');
  audit
    .command('verify')
    .description('check the audit chain; exit 0 intact, 1 broken (naming the first bad seq)')
    .addOption(dbOption())
    .option('--checkpoints <file>', 'checkpoints kept outside the database (JSONL), to catch truncation')
    .option('--public-key <file>', 'trusted PEM public key(s) (default: the keys registered in the database)')
    .option(
      '--from-export <file>',
      'verify an export file offline instead (needs --checkpoints, --public-key)',
    )
    .option('--progress', 'report progress on stderr even when it is not a terminal')
    .option('--deep', 'also re-derive every query column from its body (slower; catches edited columns)')
    .option('--json', 'print the verification report as JSON')
    .action(async (o, cmd) => {
      done(await auditVerify({ ...o, dbGiven: cmd.getOptionValueSource('db') === 'cli' }, io));
    });
  audit
    .command('query')
    .description('search audit events, oldest first, one page at a time')
    .addOption(dbOption())
    .addOption(fromOption())
    .addOption(toOption())
    .option('--agent <name>', 'the calling agent')
    .option('--session <id>', 'session id')
    .option('--tool <name>', 'tool name')
    .option('--type <type>', 'event type, e.g. call.decided')
    .addOption(new Option('--decision <effect>', 'the effect of call.decided events').choices(EFFECTS))
    .option('--rule <id>', 'the deciding rule')
    .option('--approver <who>', 'a human or agent among the approvers')
    .option('--triggered-by <who>', 'the human or job that started the task')
    .option('--actor <id>', 'who did it: agent, human, service or system id')
    .option('--limit <n>', `events per page (default ${DEFAULT_QUERY_LIMIT}, at most 10000)`)
    .option('--cursor <cursor>', 'continue after the previous page (printed as `more: --cursor …`)')
    .addOption(new Option('--format <format>', 'output').choices(['table', 'jsonl']).default('table'))
    .action(async (o) => {
      done(await auditQuery(o, io));
    });
  audit
    .command('export')
    .description('export a verified, signed stretch of the chain, with what an auditor needs to check it')
    .addOption(dbOption())
    .addOption(keysOption())
    .addOption(new Option('--format <format>', 'export format').choices(EXPORT_FORMATS).makeOptionMandatory())
    .addOption(fromOption())
    .addOption(toOption())
    .option('--out <file>', 'write the export here (default: stdout)')
    .option('--checkpoints-out <file>', 'checkpoints JSONL (default: <out>.checkpoints.jsonl)')
    .option('--public-key-out <file>', 'the signing public key, PEM (default: <out>.pub.pem)')
    .action(async (o) => {
      done(await auditExport(o, io));
    });
  audit
    .command('checkpoint')
    .description('sign a checkpoint at the head of the chain now')
    .addOption(dbOption())
    .addOption(keysOption())
    .option('--json', 'print the signed checkpoint as JSON')
    .action(async (o) => {
      done(await auditCheckpoint(o, io));
    });
  audit
    .command('purge')
    .description('remove events older than the retention period (refused while a legal hold is in place)')
    .requiredOption('--retention <days>', 'keep this many days of events')
    .addOption(dbOption())
    .addOption(keysOption())
    .option('--by <name>', 'who is purging (default: your OS user name)')
    .action(async (o) => {
      done(await auditPurge(o, io));
    });
  addHoldCommands(audit, io, done);
}

function addHoldCommands(audit: Command, io: CliIo, done: (code: number) => void): void {
  const hold = audit.command('hold').description('legal holds: while any is in place, nothing is purged');
  hold
    .command('place')
    .description('place a legal hold')
    .requiredOption('--reason <text>', 'the matter or ticket it is for')
    .option('--id <id>', 'hold id (default: a new UUID)')
    .option('--by <name>', 'who places it (default: your OS user name)')
    .addOption(dbOption())
    .addOption(keysOption())
    .action(async (o) => {
      done(await auditHoldPlace(o, io));
    });
  hold
    .command('release')
    .description('release a legal hold')
    .argument('<id>', 'the hold id (see `warden audit hold list`)')
    .requiredOption('--reason <text>', 'why it is released')
    .option('--by <name>', 'who releases it (default: your OS user name)')
    .addOption(dbOption())
    .addOption(keysOption())
    .action(async (id, o) => {
      done(await auditHoldRelease(id, o, io));
    });
  hold
    .command('list')
    .description('list the legal holds in place')
    .addOption(dbOption())
    .option('--json', 'print them as JSON')
    .action(async (o) => {
      done(await auditHoldList(o, io));
    });
}
