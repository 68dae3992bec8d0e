import { resolve } from 'node:path';
import { loadGatewayConfig, startStdioGateway } from '@warden/mcp';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../cli-io.js';

export interface McpOptions {
  readonly config: string;
  /** The task token of this connection (else WARDEN_TASK_TOKEN). */
  readonly taskToken?: string;
}

/**
 * `warden mcp --config FILE`: the MCP gateway on stdin/stdout, for a desktop client to launch. Runs
 * until the client hangs up or a signal arrives; stdout carries only MCP messages, so everything else
 * goes to stderr.
 */
export async function mcp(o: McpOptions, io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const config = loadGatewayConfig(resolve(io.cwd, o.config));
  const taskToken = o.taskToken ?? (process.env.WARDEN_TASK_TOKEN || undefined);
  const gateway = await startStdioGateway(config, {
    onError: (m) => io.err(`warden mcp: ${m}\n`),
    ...(taskToken !== undefined ? { taskToken } : {}),
  });
  const session = gateway.session ?? "the task token's";
  io.err(
    `warden mcp: gateway for ${Object.keys(config.servers).join(', ')} on stdio; Warden session ${session}${taskToken !== undefined ? ' (calls carry the task token)' : ''}\n`,
  );
  // Say at once which upstreams gave no tools: a client shows an empty list and no reason.
  void gateway
    .probe()
    .then((p) => {
      if (p.failed.length === 0) return;
      io.err(
        `warden mcp: ${p.failed.join(', ')} (${p.failed.length} of ${p.total}) listed no tools: not started, unreachable or empty (see above)\n`,
      );
    })
    .catch(() => {});
  await new Promise<void>((done) => {
    void gateway.closed.then(done);
    signals.once('SIGINT', done);
    signals.once('SIGTERM', done);
  });
  await gateway.close();
  return EXIT.ok;
}
