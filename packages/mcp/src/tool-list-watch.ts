import type { Server as McpServer } from '@modelcontextprotocol/server';
import type { Warden } from '@warden/sdk';
import { policyName } from './tool-names.js';
import type { UpstreamPool } from './upstream-pool.js';

/**
 * Tells the client to list its tools again when what the agent may use changes — a new policy, a grant
 * given or revoked — wherever that change was made: every `everyMs` the visible set is asked for again
 * and compared. For the stdio gateway, which hears no events; `/mcp` is told by the server's event hub.
 */
export function watchToolList(
  server: McpServer,
  pool: UpstreamPool,
  warden: Warden,
  everyMs: number,
  onError: (message: string) => void = () => {},
): { stop(): void } {
  let last: string | undefined;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const names = (await pool.tools()).map((t) => policyName(t.server, t.tool.name));
      const now = JSON.stringify(await warden.visibleTools(names));
      if (last !== undefined && now !== last) await server.sendToolListChanged();
      last = now;
    } catch (err) {
      onError(`checking the tool list: ${(err as Error).message}`);
    } finally {
      busy = false;
    }
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
