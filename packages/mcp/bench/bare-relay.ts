/**
 * The bench's baseline proxy: the same MCP server and upstream client the gateway uses, forwarding
 * tools/list and tools/call with no decision and no record. What any MCP proxy process costs on this
 * machine, so the bench can tell the process hop from what Warden adds.
 */
import { Server } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import { UpstreamPool } from '../src/upstream-pool.js';

const [command, ...args] = process.argv.slice(2);
if (!command) throw new Error('usage: bare-relay.ts COMMAND [ARGS…] (the upstream server)');
const pool = new UpstreamPool({ up: { command, args } });
const server = new Server({ name: 'bare-relay', version: '0.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler('tools/list', async () => ({
  tools: (await pool.tools()).map((t) => ({ ...t.tool, name: `up__${t.tool.name}` })),
}));
server.setRequestHandler('tools/call', async (request) =>
  pool.call('up', request.params.name.replace(/^up__/, ''), request.params.arguments ?? {}),
);
process.stdin.once('end', () => void pool.close().then(() => process.exit(0)));
await server.connect(new StdioServerTransport());
