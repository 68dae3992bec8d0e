/**
 * One "instance" for the PostgreSQL append benchmark: opens the store, waits for `go` on stdin, appends
 * argv[3] events through a group committer and prints `{"done":n}`.
 */
import { GroupCommitter } from '../src/store/group-committer.js';
import { openStore } from '../src/store/open-store.js';
import { appendMany } from './bench-events.js';

const [url, count, name] = process.argv.slice(2) as [string, string, string];
const store = await openStore(url);
const committer = new GroupCommitter(store);
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.destroy();
await appendMany((event) => committer.submit({ events: [event] }), Number(count), 2048, name);
process.stdout.write(`${JSON.stringify({ done: Number(count) })}\n`);
await store.close();
process.exit(0);
