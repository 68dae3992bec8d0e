/**
 * The baseline of the HTTP benchmark: a bare Fastify app in a process of its own with one POST route that
 * parses the same JSON body as POST /v1/calls and answers a small JSON object. Prints `{"url","pid"}` once
 * listening; exits on SIGTERM, SIGINT or when stdin closes.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/noop', async (request) => {
  const body = request.body as { tool?: unknown } | null;
  return { ok: true, tool: typeof body?.tool === 'string' ? body.tool : null };
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url: `${url}/noop`, pid: process.pid })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await app.close();
  process.exit(0);
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
