/**
 * `warden hook <assistant>` (the command a coding assistant runs around each tool use: its hook JSON on
 * stdin, its answer on stdout and the exit code) and `warden hook install <assistant>`.
 */
import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { type CliIo, EXIT } from './cli-io.js';
import { describeError } from './describe-error.js';
import { HOOK_ADAPTERS, hookAdapter } from './hook/adapters.js';
import type { HookAdapter } from './hook/hook-adapter.js';
import { resolveHookConfig } from './hook/hook-config.js';
import { armHookGuard, guardDeadline, type HookGuard, hookTimeLimitSeconds } from './hook/hook-guard.js';
import { installHooks } from './hook/hook-install.js';
import { runHook } from './hook/hook-runner.js';

/** Adds `warden hook …` to `program`; `done` receives the exit code. */
export function addHookCommands(program: Command, io: CliIo, done: (code: number) => void): void {
  const known = HOOK_ADAPTERS.map((a) => a.assistant).join(', ');
  const hook = program
    .command('hook')
    .description(`govern a coding assistant's tool uses: the command its hooks run (${known})`)
    .argument('<assistant>', `the assistant whose hook input arrives on stdin (${known})`)
    .addOption(
      new Option('--url <url>', 'the Warden server (default WARDEN_URL, else http://127.0.0.1:7400)'),
    )
    .option(
      '--review-timeout <seconds>',
      'how long to wait for an approver before denying with the approval URL (default 240)',
    )
    .option(
      '--hook-timeout <seconds>',
      'the time limit the assistant gives the hook; it denies a little before (default: the review timeout + 60 s, what install registers)',
    )
    .option(
      '--fail-open',
      'allow (with a warning) when Warden cannot be reached; also WARDEN_HOOK_FAIL_OPEN=1',
    )
    .action(async (assistant, o) => {
      let adapter: HookAdapter;
      try {
        adapter = hookAdapter(assistant);
      } catch (err) {
        io.err(`warden: ${describeError(err)}\n`);
        return done(EXIT.usage);
      }
      done(await hookRun(adapter, o, io));
    });
  hook
    .command('install')
    .description("write the assistant's settings so it runs `warden hook <assistant>` (merged, idempotent)")
    .argument('<assistant>', `the assistant to configure (${known})`)
    .option('--project', "this project's settings (the default)")
    .option('--user', "the user's settings, for every project")
    .option('--project-dir <path>', 'the project root (default: the current folder)')
    .option('--url <url>', 'the Warden server the hook calls (written into the command)')
    .option('--review-timeout <seconds>', 'the review wait written into the command (default 240)')
    .action((assistant, own) => {
      try {
        // Commander hands `--url` and `--review-timeout` to `hook` itself wherever they stand (the root
        // command does not use positional options), so install reads them from there too.
        const o = { ...hook.opts(), ...own };
        const r = installHooks(assistant, o, process.env, io.cwd, process.argv[1] ?? '');
        io.out(
          `Wrote ${r.file} (the hook runs \`${r.command}\`, time limit ${r.timeoutSeconds} s):\n${r.written}`,
        );
        io.out(
          'The hook reads its key from the environment the assistant runs in: export WARDEN_AGENT_KEY (an agent key) and, unless given with --url, WARDEN_URL. No key is written to the settings.\n',
        );
        done(EXIT.ok);
      } catch (err) {
        io.err(`warden: ${describeError(err)}\n`);
        done(EXIT.usage);
      }
    });
}

async function hookRun(
  adapter: HookAdapter,
  o: { url?: string; reviewTimeout?: string; hookTimeout?: string; failOpen?: true },
  io: CliIo,
): Promise<number> {
  let guard: HookGuard | undefined;
  try {
    // Only in the real hook process (it reads the process's stdin): the guard may end the process.
    if (!io.readStdin) {
      const limit = hookTimeLimitSeconds(o);
      guard = armHookGuard(adapter, guardDeadline(performance.timeOrigin, limit), limit);
    }
  } catch (err) {
    const out = adapter.render(undefined, {
      kind: 'deny',
      reason: `warden hook ${adapter.assistant}: ${describeError(err)}`,
    });
    if (out.stdout) io.out(out.stdout);
    if (out.stderr) io.err(out.stderr);
    return out.exitCode;
  }
  let stdin: string;
  try {
    stdin = await (io.readStdin ?? readProcessStdin)();
  } catch (err) {
    stdin = '';
    io.err(`warden: could not read stdin: ${describeError(err)}\n`);
  }
  guard?.input(stdin, process.env);
  let out: { stdout: string; stderr: string; exitCode: number };
  try {
    const config = resolveHookConfig(o, process.env);
    out = await runHook(adapter, stdin, config, process.env, (line) => io.err(line));
  } catch (err) {
    // A bad flag: the tool use cannot be decided, so the answer is a deny (fail closed).
    out = adapter.render(undefined, {
      kind: 'deny',
      reason: `warden hook ${adapter.assistant}: ${describeError(err)}`,
    });
  }
  guard?.finish();
  if (out.stdout) io.out(out.stdout);
  if (out.stderr) io.err(out.stderr);
  return out.exitCode;
}

/** All of stdin; an assistant always pipes its hook JSON, so a terminal there is a mistake. */
async function readProcessStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
