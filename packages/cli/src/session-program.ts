import type { Command } from '@commander-js/extra-typings';
import { type Done, withApi } from './approval-program.js';
import type { CliIo } from './cli-io.js';
import { budgetsShow } from './commands/budgets.js';
import { sessionsList, sessionsPause, sessionsResume, sessionsShow } from './commands/sessions.js';

/** `--raise a=1 --raise b=2` collects every value. */
const collect = (value: string, previous: string[]) => [...previous, value];

/** Adds `warden sessions …` and `warden budgets …`, clients of a running server; `done` gets the exit code. */
export function addSessionCommands(program: Command, io: CliIo, done: Done): void {
  const sessions = program
    .command('sessions')
    .description('list, pause and resume agent sessions (a client of `warden serve`)');
  withApi(sessions.command('list'))
    .description('list sessions, most recently active first')
    .option('--paused', 'only paused sessions (stopped by a person, a budget or a loop breaker)')
    .option('--agent <name>', 'only this agent')
    .option('--limit <n>', 'at most this many (default 100, at most 1000)')
    .option('--cursor <cursor>', 'continue after the previous page (printed as `more: --cursor …`)')
    .option('--json', 'print the page as JSON')
    .action(async (o) => done(await sessionsList(o, io)));
  withApi(sessions.command('show'))
    .description('show one session: state, usage, and each budget it draws on')
    .argument('<id>', 'the session id')
    .option('--json', 'print it as JSON')
    .action(async (id, o) => done(await sessionsShow(id, o, io)));
  withApi(sessions.command('pause'))
    .description('pause a session: its calls are blocked until someone resumes it')
    .argument('<id>', 'the session id')
    .requiredOption('--reason <text>', 'why (recorded, and sent to the webhooks)')
    .option('--json', 'print the session as JSON')
    .action(async (id, o) => done(await sessionsPause(id, o, io)));
  withApi(sessions.command('resume'))
    .description('resume a paused session as your key (nobody with a stake in it may)')
    .argument('<id>', 'the session id')
    .requiredOption('--reason <text>', 'why it may go on (recorded)')
    .option(
      '--raise <budget=limit>',
      "raise a budget for its current window, in the budget's unit (repeat for several)",
      collect,
      [],
    )
    .option('--json', 'print the session as JSON')
    .action(async (id, o) => done(await sessionsResume(id, o, io)));

  const budgets = program.command('budgets').description('where budgets stand (a client of `warden serve`)');
  withApi(budgets.command('show'))
    .description('each budget counter in its current window: used, limit, reserved, remaining')
    .option('--agent <name>', 'budgets that apply to this agent')
    .option('--session <id>', 'budgets this session draws on')
    .option('--budget <id>', 'only this budget of the policy')
    .option('--json', 'print them as JSON')
    .action(async (o) => done(await budgetsShow(o, io)));
}
