import { type Command, Option } from '@commander-js/extra-typings';
import { DEFAULT_DB } from '@warden/engine';
import type { CliIo } from './cli-io.js';
import { REPORT_FORMATS, reportSoc2 } from './commands/report-soc2.js';

/** Adds `warden report …`; `done` receives each command's exit code. */
export function addReportCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  const report = program.command('report').description('evidence reports from the audit trail');
  report
    .command('soc2')
    .description(
      'SOC 2 evidence for a period (CC6, CC7, separation of duties, budgets, chain integrity) as HTML and Markdown; exit 1 if the chain is broken or separation of duties was violated',
    )
    .requiredOption('--from <time>', 'start, inclusive: ISO time, a date (UTC midnight) or an age like 30d')
    .requiredOption('--to <time>', 'end: an ISO time (excluded) or a date (that whole UTC day included)')
    .requiredOption(
      '--out <file>',
      'where to write; with both formats FILE.html and FILE.md (a name ending in .html or .md is kept and the other written beside it)',
    )
    .addOption(
      new Option('--db <location>', 'SQLite file or postgres:// URL').env('WARDEN_DB').default(DEFAULT_DB),
    )
    .addOption(
      new Option(
        '--keys <file>',
        'trust only these public keys (a key file or PEM) to have signed checkpoints (default: the keys registered in the database)',
      ).env('WARDEN_KEYS'),
    )
    .addOption(new Option('--format <format>', 'output').choices(REPORT_FORMATS).default('both'))
    .option('--top <n>', 'names in each top list (default 10)')
    .option('--rows <n>', 'rows kept per list; counts stay exact, the rest is "and N more" (default 200)')
    .option('--progress', 'report progress on stderr even when it is not a terminal')
    .option(
      '--recount',
      "count every figure from the period's events one by one instead of the rollups kept with them (the same report, slower)",
    )
    .action(async (o) => {
      done(await reportSoc2(o, io));
    });
}
