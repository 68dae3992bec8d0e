/**
 * An upstream MCP server built with the official SDK, over streamable HTTP on 127.0.0.1: one `echo` tool
 * that records the `params._meta` of every tools/call it receives (no real server from npm reveals it).
 * Built on the 1.x SDK on purpose, as the MCP servers on npm still are: the gateway (v2) must serve them.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface MetaMcpUpstream {
  /** The MCP endpoint, for a gateway config's `url`. */
  readonly url: string;
  /** The `_meta` of each tools/call, in order. */
  readonly metas: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts the upstream on a free port; stateless (a server and transport per request). */
export async function startMetaMcpUpstream(): Promise<MetaMcpUpstream> {
  const metas: Record<string, unknown>[] = [];
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const mcp = new McpServer({ name: 'meta-recorder', version: '1.0.0' });
      mcp.registerTool(
        'echo',
        { description: 'Echoes its text.', inputSchema: { text: z.string() } },
        async ({ text }, extra) => {
          metas.push({ ...extra._meta });
          return { content: [{ type: 'text', text }] };
        },
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      void mcp
        .connect(transport)
        .then(() => transport.handleRequest(req, res, body))
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    metas,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
