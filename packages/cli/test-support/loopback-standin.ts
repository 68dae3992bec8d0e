/**
 * What the scripted model stand-ins (anthropic-, gemini- and openai-responses-script-standin.ts) share:
 * an HTTP server on a free port of 127.0.0.1 that hands each request over with its whole body, a JSON
 * request body read as an object, and a script's turn picked by how many model turns a request holds.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running stand-in server: its base URL, and closing it (open connections too). */
export interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a server on a free port of 127.0.0.1 that calls `handle` with each request's body as text. */
export async function startLoopbackServer(
  handle: (req: IncomingMessage, body: string, res: ServerResponse) => void,
): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A request body as a JSON object (`{}` for an empty body); undefined when it is not JSON. */
export function jsonBody(text: string): Record<string, unknown> | undefined {
  try {
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/**
 * The turn of a script for a request that already holds `n` model turns (so a retried request gets the
 * same turn again): a function script decides, a list gives its n-th turn, and past its end `done`.
 */
export function pickScriptedTurn<T, R>(
  script: readonly T[] | ((turn: number, request: R) => T),
  n: number,
  request: R,
): T | { text: string } {
  if (typeof script === 'function') return script(n, request);
  return script[n] ?? { text: 'done' };
}
