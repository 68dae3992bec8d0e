/**
 * Opens many idle Server-Sent Events connections from a process of its own (one process cannot hold both
 * ends of 10,000 sockets under the usual fd limit), reports how many were accepted, and holds them until
 * told to close.
 *
 *   node --import tsx sse-idle-client.ts <url> <key> <count> [concurrency]
 *
 * stdout gets one JSON line once every attempt has settled:
 *   {"opened": n, "failed": n, "statuses": {"200": n, …}, "errors": {"ECONNRESET": n, …}}
 * Then, on a line `close` on stdin (or stdin closing), it drops every connection, prints
 *   {"closed": n, "endedEarly": n}
 * (endedEarly: streams the server ended while they were held) and exits 0.
 */
import { type ClientRequest, request } from 'node:http';
import { createInterface } from 'node:readline';

const [url, key, countText, concurrencyText] = process.argv.slice(2);
if (!url || !key || !countText) {
  process.stderr.write('usage: sse-idle-client.ts <url> <key> <count> [concurrency]\n');
  process.exit(2);
}
const count = Number(countText);
const concurrency = Number(concurrencyText ?? 200);

const open: ClientRequest[] = [];
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
let opened = 0;
let failed = 0;
let endedEarly = 0;
let closing = false;

function tally(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

/** Opens one stream; resolves once it is accepted as an event stream or has failed. */
function openOne(): Promise<void> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      if (ok) opened++;
      else {
        failed++;
        if (why) tally(errors, why);
      }
      resolve();
    };
    const req = request(url as string, {
      agent: false,
      headers: { accept: 'text/event-stream', authorization: `Bearer ${key}` },
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) settle(false, err.code ?? err.message);
    });
    req.on('response', (res) => {
      tally(statuses, String(res.statusCode));
      const ok =
        res.statusCode === 200 && String(res.headers['content-type']).startsWith('text/event-stream');
      // Idle: read and discard whatever comes (heartbeats), so the server never sees a slow reader.
      res.on('data', () => {});
      res.on('close', () => {
        if (!closing && ok) endedEarly++;
      });
      if (ok) open.push(req);
      else req.destroy();
      settle(ok, ok ? undefined : `HTTP ${res.statusCode}`);
    });
    req.end();
  });
}

let next = 0;
async function worker(): Promise<void> {
  while (next < count) {
    next++;
    await openOne();
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
process.stdout.write(`${JSON.stringify({ opened, failed, statuses, errors })}\n`);

function closeAll(): void {
  if (closing) return;
  closing = true;
  for (const req of open) req.destroy();
  process.stdout.write(`${JSON.stringify({ closed: open.length, endedEarly })}\n`, () => process.exit(0));
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'close') closeAll();
});
lines.on('close', closeAll);
