import { type Command, Option } from '@commander-js/extra-typings';
import { API_KEY_PERMISSIONS } from '@warden/api';
import { API_ROLES, DEFAULT_DB } from '@warden/engine';
import type { CliIo } from './cli-io.js';
import { keysCreate, keysList, keysRevoke } from './commands/keys.js';
import { mcp } from './commands/mcp.js';
import { serve } from './commands/serve.js';

const dbOption = () =>
  new Option('--db <location>', 'SQLite file or postgres:// URL').env('WARDEN_DB').default(DEFAULT_DB);
const keysOption = () =>
  new Option('--keys <file>', 'key file of the engine (default: <db>.keys.json)').env('WARDEN_KEYS');

/** Adds `warden serve` and `warden keys …`; `done` receives each command's exit code. */
export function addServerCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('serve')
    .description('run the Warden server (HTTP API, live events, metrics); stop with Ctrl-C')
    .option('--config <file>', 'a YAML or JSON config file (env WARDEN_CONFIG)')
    .option(
      '--policy <path>',
      'policy file or folder, watched for changes (env WARDEN_POLICY; default: stored or example)',
    )
    .option(
      '--db <location>',
      `SQLite file, sqlite:PATH or postgres:// URL (env WARDEN_DB; default ${DEFAULT_DB})`,
    )
    .option('--port <n>', 'port to listen on (env WARDEN_PORT; default 7400; 0 picks a free one)')
    .option('--host <host>', 'address to listen on (env WARDEN_HOST; default 127.0.0.1)')
    .option('--keys <file>', 'signing/HMAC key file (env WARDEN_KEYS; default beside the database)')
    .option(
      '--policy-overwrite',
      'put the --policy file in force even when a newer policy was stored since it was last applied',
    )
    .action(async (o) => {
      done(await serve(o, io));
    });
  program
    .command('mcp')
    .description(
      "run the MCP gateway on stdio: one MCP server in front of the config's upstream servers, every call governed",
    )
    .requiredOption(
      '--config <file>',
      'gateway config (YAML or JSON): warden connection and upstream servers',
    )
    .option(
      '--task-token <token>',
      "the task token every call of this connection carries (env WARDEN_TASK_TOKEN): the task's verified session, initiator and chain",
    )
    .action(async (o) => {
      done(await mcp(o, io));
    });
  const keys = program.command('keys').description('create, list and revoke API keys');
  keys
    .command('create')
    .description('create an API key; the secret is printed once')
    .option('--agent <name>', 'a key for this agent (role agent)')
    .option('--human <name>', 'a key for this person (needs --role)')
    .option('--service <name>', 'a key for this service (needs --role)')
    .addOption(new Option('--role <role>', 'what the key may do').choices(API_ROLES))
    .option('--label <text>', 'a note shown in lists')
    .option('--expires <when>', 'a duration (30d, 12h) or an ISO time')
    .addOption(
      new Option(
        '--permission <name...>',
        'beyond the role; initiator (service keys): may start tasks for a person it vouches for',
      ).choices(API_KEY_PERMISSIONS),
    )
    .option('--by <who>', 'who is creating it (default: the OS user)')
    .option('--json', 'print the key and secret as JSON')
    .addOption(dbOption())
    .addOption(keysOption())
    .action(async (o) => {
      done(await keysCreate(o, io));
    });
  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--json', 'one JSON object per line')
    .addOption(dbOption())
    .action(async (o) => {
      done(await keysList(o, io));
    });
  keys
    .command('revoke')
    .description('revoke an API key on every instance')
    .argument('<id>', 'the key id (key_…), from `warden keys list`')
    .option('--reason <text>', 'recorded in the audit trail')
    .option('--by <who>', 'who is revoking it (default: the OS user)')
    .addOption(dbOption())
    .addOption(keysOption())
    .action(async (id, o) => {
      done(await keysRevoke(id, o, io));
    });
}
