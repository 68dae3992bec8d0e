import type { Command } from '@commander-js/extra-typings';
import { type Done, withApi } from './approval-program.js';
import type { CliIo } from './cli-io.js';
import { tasksStart } from './commands/tasks.js';

/** `--label a=1 --label b=2` collects every value. */
const collect = (value: string, previous: string[]) => [...previous, value];

/** Adds `warden tasks start`: a developer starts a task for a coding assistant and gets its task token. */
export function addTaskCommands(program: Command, io: CliIo, done: Done): void {
  const tasks = program
    .command('tasks')
    .description('start tasks for agents: signed task tokens naming you as the initiator');
  withApi(tasks.command('start'))
    .description(
      'start a task for an agent as the person `warden login` signed in; prints its task token (for WARDEN_TASK_TOKEN)',
    )
    .requiredOption('--agent <name>', 'the agent the task is for (e.g. claude-code)')
    .option('--session <id>', 'a new session id for the task (default: the server makes one)')
    .option('--ttl <seconds>', "the token's lifetime in seconds (default 3600, at most 86400)")
    .option('--label <key=value>', 'a label on the task (repeat for several)', collect, [])
    .option(
      '--initiator-subject <id>',
      'with a service key holding the initiator permission: whom it vouches for',
    )
    .option('--initiator-name <name>', "with --initiator-subject: that person's name")
    .option('--json', 'print the whole answer as JSON')
    .option('--export', 'print `export WARDEN_TASK_TOKEN=…` (for eval)')
    .action(async (o, cmd) =>
      done(await tasksStart({ ...o, keySource: cmd.getOptionValueSource('key') ?? undefined }, io)),
    );
}
