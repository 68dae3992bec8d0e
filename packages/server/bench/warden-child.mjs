/**
 * The Warden server of the HTTP benchmark, run from the build (as users run `warden serve`: no TypeScript
 * loader in the process, whose memory would count in server.rss_mb) in a process of its own: the example policy, a SQLite database at argv[2], an ephemeral port on loopback, no logging.
 * Prints one JSON line `{"url","adminKey","pid"}` once listening; shuts down gracefully (drain, flush the
 * audit, final checkpoint) on SIGTERM, SIGINT or when stdin closes (the parent went away), then removes
 * the database's directory: a temporary directory the benchmark made for this process alone.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { resolveServerConfig, startServer } from '../dist/index.js';

const db = process.argv[2] ?? '';
if (db === '') throw new Error('usage: warden-child.ts DB (in a temporary directory of its own)');

const config = resolveServerConfig({ db, port: 0, host: '127.0.0.1', logLevel: 'silent' }, {});
const server = await startServer(config, {
  onWarning: (m) => process.stderr.write(`warden: warning: ${m}\n`),
});
process.stdout.write(
  `${JSON.stringify({ url: server.url, adminKey: server.bootstrap?.secret, pid: process.pid })}\n`,
);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.close();
    rmSync(dirname(db), { recursive: true, force: true });
    process.exit(0);
  } catch (err) {
    process.stderr.write(`warden: shutdown failed: ${err?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.resume();
