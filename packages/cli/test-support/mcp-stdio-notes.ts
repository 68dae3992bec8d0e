/**
 * A minimal MCP server over stdio (newline-delimited JSON-RPC, protocol 2025-06-18) with one tool,
 * `delete_note`, for an assistant's MCP client to call in the hook tests. Every `tools/call` it receives
 * is appended as a JSON line to the file named by its first argument, so a test can tell whether a call
 * reached it. Run as `node mcp-stdio-notes.ts <calls-file>` (Node strips the types).
 */
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const callsFile = process.argv[2];
if (!callsFile) throw new Error('usage: node mcp-stdio-notes.ts <calls-file>');
const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);
const TOOL = {
  name: 'delete_note',
  description: 'Deletes a note by title.',
  inputSchema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const m = JSON.parse(line) as { id?: number | string; method: string; params?: Record<string, unknown> };
  if (m.id === undefined) return;
  const reply = (result: unknown) => send({ jsonrpc: '2.0', id: m.id, result });
  if (m.method === 'initialize')
    return reply({
      protocolVersion: m.params?.protocolVersion ?? '2025-06-18',
      capabilities: { tools: {} },
      serverInfo: { name: 'notes', version: '1.0.0' },
    });
  if (m.method === 'tools/list') return reply({ tools: [TOOL] });
  if (m.method === 'tools/call') {
    appendFileSync(callsFile, `${JSON.stringify(m.params)}\n`);
    const title = String((m.params?.arguments as { title?: unknown } | undefined)?.title);
    return reply({ content: [{ type: 'text', text: `deleted ${title}` }], isError: false });
  }
  send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `no method ${m.method}` } });
});
