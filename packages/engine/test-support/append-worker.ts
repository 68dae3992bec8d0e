/**
 * A child process for crash tests: opens an engine on argv[2] (SQLite path or postgres:// URL) with the
 * key file argv[3] and decides calls as fast as it can, printing `ack <callId> <seq>` for each decision
 * only after check() has returned — i.e. after the event is durable. The parent kills it with SIGKILL.
 * With argv[4] = `idle` it only opens the engine (a restart), prints `ready` and waits to be killed.
 * Errors the engine reports with no caller to go to are printed as `error <code> <message>` on stderr.
 */
import { openEngine } from '../src/engine/open-engine.js';
import { testPolicy } from './engine-fixtures.js';

const [db, keysFile, mode] = process.argv.slice(2) as [string, string, string | undefined];
const engine = await openEngine({
  db,
  keysFile,
  policy: testPolicy(),
  checkpoint: { everyEvents: 500 },
  onError: (err) => process.stderr.write(`error ${err.code} ${err.message}\n`),
});
process.stdout.write('ready\n');
if (mode === 'idle') {
  setInterval(() => {}, 1 << 30); // stay up, doing nothing, until killed
} else {
  await appendForever();
}
async function appendForever(): Promise<void> {
  let n = 0;
  const worker = async () => {
    for (;;) {
      const r = await engine.check({
        agent: 'billing-agent',
        tool: 'echo',
        args: { n: n++ },
        session: `s-${n % 7}`,
      });
      if (r.auditSeq === undefined) throw new Error(`not recorded: ${r.reasons.join('; ')}`);
      process.stdout.write(`ack ${r.callId} ${r.auditSeq}\n`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}
