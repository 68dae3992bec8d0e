/**
 * The Python client (clients/python) against a real `warden serve`: this file starts the server with a
 * small policy (allow, review and block rules, a calls budget, a worker agent for delegation) and the LLM
 * proxy configured, creates the keys (agent, worker, approver, an initiator service key), and runs the
 * client's own unittest files with the machine's `python3`, passing the URL and keys in the environment.
 * It asserts the run passed and that each behaviour's test ran and passed by name. python3 is required:
 * missing, these tests fail (CI or not; `.ci/run` installs it). Needs the built CLI (`npm run build`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  childEnv,
  killAll,
  type Served,
  spawnServe,
  warden,
} from '../../../packages/server/test-support/serve-process.js';

const CLIENT = fileURLToPath(new URL('..', import.meta.url));
const POLICY = fileURLToPath(new URL('./fixtures/policy.yaml', import.meta.url));
const PYTHON = process.env.WARDEN_PYTHON ?? 'python3';

/** One test's line in `python3 -m unittest -v` output: `name (module.Class.name) ... ok`. */
const RESULT_LINE =
  /^(test_\w+) \(([\w.]+)\)(?:\n.*?)? \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$/gm;

/** The version python3 reports; a missing python3 fails the file, naming how to install it. */
function pythonVersion(): string {
  try {
    return execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim();
  } catch (error) {
    const ci = process.env.CI === 'true' ? ' (CI=true)' : '';
    throw new Error(
      `python3 is required by the Python client's tests${ci} but \`${PYTHON} --version\` failed (${(error as Error).message}); install it with \`apt-get install -y python3\` as root (Debian/Ubuntu)`,
    );
  }
}

interface Run {
  readonly code: number | null;
  readonly output: string;
  readonly results: ReadonlyMap<string, string>;
}

/** `python3 -m unittest -v` in clients/python with `env`; results by `Class.test_name`. */
function unittest(env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-m', 'unittest', '-v'], {
      cwd: CLIENT,
      env: childEnv({ ...env, PYTHONDONTWRITEBYTECODE: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const results = new Map<string, string>();
      for (const m of output.matchAll(RESULT_LINE)) {
        const where = (m[2] as string).split('.');
        results.set(`${where.at(-2)}.${m[1]}`, m[3] as string);
      }
      resolve({ code, output, results });
    });
  });
}

describe('the Python client against warden serve', () => {
  const admin = `wdn_${randomBytes(32).toString('base64url')}`;
  let dir: string;
  let server: Served;
  let run: Run;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
    pythonVersion();
    dir = mkdtempSync(join(tmpdir(), 'warden-python-'));
    const db = join(dir, 'warden.db');
    const keysFile = join(dir, 'keys.json');
    // The proxy needs an upstream configured to decide at all; the policy blocks every model, so nothing
    // is ever sent to this address.
    const config = join(dir, 'warden.yaml');
    writeFileSync(
      config,
      'llm:\n  openai: { baseUrl: "http://127.0.0.1:9", apiKey: sk-never-sent }\n  anthropic: { baseUrl: "http://127.0.0.1:9", apiKey: sk-ant-never-sent }\n',
    );
    server = await spawnServe(
      ['--config', config, '--db', db, '--keys', keysFile, '--port', '0', '--policy', POLICY],
      { WARDEN_ADMIN_KEY: admin, WARDEN_LOG_LEVEL: 'warn' },
    );
    const create = async (name: string, ...who: string[]) => {
      const r = await warden(['keys', 'create', ...who, '--db', db, '--keys', keysFile, '--json']);
      expect(r.code, r.err).toBe(0);
      keys[name] = (JSON.parse(r.out) as { secret: string }).secret;
    };
    await create('agent', '--agent', 'py-agent');
    await create('worker', '--agent', 'py-worker');
    await create('approver', '--human', 'lee', '--role', 'approver');
    await create('initiator', '--service', 'portal', '--role', 'auditor', '--permission', 'initiator');
    run = await unittest({
      WARDEN_TEST_URL: server.url,
      WARDEN_TEST_AGENT_KEY: keys.agent,
      WARDEN_TEST_WORKER_KEY: keys.worker,
      WARDEN_TEST_APPROVER_KEY: keys.approver,
      WARDEN_TEST_INITIATOR_KEY: keys.initiator,
      WARDEN_TEST_ADMIN_KEY: admin,
    });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs every unittest file green with python3, none skipped', () => {
    expect(run.code, run.output).toBe(0);
    expect(run.output, run.output).toMatch(/\nOK\n?$/);
    const ran = Number(/Ran (\d+) tests?/.exec(run.output)?.[1]);
    expect(ran, run.output).toBe(run.results.size);
    const notOk = [...run.results].filter(([, outcome]) => outcome !== 'ok');
    expect(notOk, run.output).toEqual([]);
  });

  it.each([
    ['allow', 'DecisionTests.test_allowed_check_returns_decision_and_complete_records_result'],
    ['allow, guarded', 'DecisionTests.test_guard_runs_allowed_call_and_records_result'],
    ['block', 'DecisionTests.test_blocked_check_is_a_decision_not_an_error'],
    ['block, guarded', 'DecisionTests.test_guard_blocked_call_raises_call_blocked_and_never_runs'],
    ["the tool's own error", 'DecisionTests.test_guard_records_the_tools_own_error_and_reraises'],
    ['context', 'DecisionTests.test_context_nests_and_explicit_arguments_win'],
    ['usage', 'DecisionTests.test_guard_reports_usage_and_survives_a_bad_one'],
    ['review approved by a second person', 'ReviewTests.test_review_approved_by_second_person_runs'],
    ['review denied', 'ReviewTests.test_review_denied_raises_approval_denied_and_never_runs'],
    ['review timeout', 'ReviewTests.test_review_timeout_withdraws_request'],
    ['approval long-poll', 'ReviewTests.test_wait_for_approval_long_polls_until_decided_then_redeems'],
    ['calls budget', 'BudgetTests.test_calls_budget_exhausting_raises_budget_exceeded_then_session_paused'],
    ['task token', 'TaskTests.test_initiator_starts_task_and_calls_carry_its_token'],
    ['delegation', 'TaskTests.test_delegate_exchanges_token_for_child_agent'],
    ['task token in context', 'TaskTests.test_context_task_token_and_a_body_that_disagrees'],
    ['initiator permission', 'TaskTests.test_agent_key_cannot_start_a_task'],
    ['LLM proxy', 'TaskTests.test_proxy_base_urls_and_headers_reach_the_metering_proxy'],
    ['async guard', 'AsyncTests.test_async_guard_allows_and_records'],
    ['async guard, blocked', 'AsyncTests.test_async_guard_blocked_raises_and_never_runs'],
    ['async guard, review', 'AsyncTests.test_async_guard_review_approved_while_loop_keeps_running'],
    ['async context', 'AsyncTests.test_async_context_holds_across_await_and_tasks'],
    [
      'unreachable server',
      'UnreachableTests.test_unreachable_server_raises_warden_unreachable_and_tool_never_runs',
    ],
    ['a lost completion', 'UnreachableTests.test_a_completion_that_cannot_be_recorded_goes_to_on_error'],
    ['bad input', 'BadInputTests.test_bad_input_is_refused_with_clear_errors'],
    ['the key never shown', 'BadInputTests.test_key_never_appears_in_repr_or_errors'],
    [
      'the wheel pip installs',
      'PackagingTests.test_wheel_builds_with_the_standard_library_and_imports_alone',
    ],
    ['the sdist', 'PackagingTests.test_sdist_carries_what_a_build_needs'],
    ['type hints', 'TypingTests.test_every_public_annotation_is_complete_and_resolves'],
  ])('%s: %s passed', (_what, name) => {
    expect(run.results.get(name), run.output).toBe('ok');
  });

  it('the package compiles with python3 and ships its type marker', () => {
    const pkg = join(CLIENT, 'warden');
    const files = readdirSync(pkg).filter((f) => f.endsWith('.py'));
    expect(files.length).toBeGreaterThan(5);
    // What `python3 -m py_compile` checks, without writing byte code into the checkout.
    const check = 'import sys\nfor f in sys.argv[1:]: compile(open(f, encoding="utf-8").read(), f, "exec")';
    execFileSync(PYTHON, ['-c', check, ...files.map((f) => join(pkg, f))]);
    expect(existsSync(join(pkg, 'py.typed'))).toBe(true);
  });
});
