import { Command, CommanderError, Option } from '@commander-js/extra-typings';
import { addApprovalCommands } from './approval-program.js';
import { addAuditCommands } from './audit-program.js';
import { type CliIo, EXIT } from './cli-io.js';
import { addPeopleCommands } from './commands/people.js';
import { policyExplain } from './commands/policy-explain.js';
import { policyLint } from './commands/policy-lint.js';
import { policySchema } from './commands/policy-schema.js';
import { policyTest } from './commands/policy-test.js';
import { addDemoCommands } from './demo-program.js';
import { describeError } from './describe-error.js';
import { addHookCommands } from './hook-program.js';
import { addLoginCommands } from './login-program.js';
import { PACKAGE_VERSION } from './package-version.js';
import { addPolicyReplayCommand } from './policy-replay-program.js';
import { addReportCommands } from './report-program.js';
import { addServerCommands } from './server-program.js';
import { addSessionCommands } from './session-program.js';

/** Runs the `warden` command with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('warden')
    .description('Warden: the governance layer for AI agents')
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)');

  const policy = program.command('policy').description('write, check and understand policies');
  policy
    .command('lint')
    .description('check policy files; prints FILE:LINE:COL severity CODE message per problem')
    .argument('<paths...>', 'policy files or folders (together, one policy)')
    .option('--strict', 'treat warnings as failures')
    .option('--separate', 'lint each path as its own policy')
    .option('--json', 'print diagnostics as JSON')
    .action((paths, o) => {
      code = policyLint(paths, o, io);
    });
  policy
    .command('test')
    .description('run policy test files (*.test.yaml) and report each case')
    .argument('<path>', 'a test file or a folder of them')
    .option('--policy <path>', "policy file or folder to test (overrides the files' `policy:`)")
    .action((path, o) => {
      code = policyTest(path, o, io);
    });
  policy
    .command('explain')
    .description('show the decision for one call and every rule considered')
    .requiredOption('--policy <path>', 'policy file or folder')
    .requiredOption('--agent <name>', 'the calling agent')
    .requiredOption('--tool <name>', 'the tool being called')
    .option('--args <json>', 'tool arguments as a JSON object')
    .option('--target <name>', "the call's declared target")
    .option('--labels <json>', 'call labels as a JSON object of strings')
    .option('--session <id>', 'session id')
    .option('--triggered-by <who>', 'the human or job that started the task')
    .option('--chain <agents>', 'delegation chain, comma-separated parent agents')
    .addOption(new Option('--now <iso-time>', 'evaluate as if at this time (ISO 8601)'))
    .option('--json', 'print the explanation as JSON')
    .action((o) => {
      code = policyExplain(o, io);
    });
  policy
    .command('schema')
    .description('print the JSON Schema of policy files (for editor autocompletion)')
    .action(() => {
      code = policySchema(io);
    });
  addPolicyReplayCommand(policy, io, (c) => {
    code = c;
  });
  addAuditCommands(program, io, (c) => {
    code = c;
  });
  addServerCommands(program, io, (c) => {
    code = c;
  });
  addApprovalCommands(program, io, (c) => {
    code = c;
  });
  addLoginCommands(program, io, (c) => {
    code = c;
  });
  addSessionCommands(program, io, (c) => {
    code = c;
  });
  addReportCommands(program, io, (c) => (code = c));
  addPeopleCommands(program, io, (c) => (code = c));
  addHookCommands(program, io, (c) => (code = c));
  addDemoCommands(program, io, (c) => {
    code = c;
  });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.err(`warden: ${describeError(err)}\n`);
    return EXIT.usage;
  }
  return code;
}
