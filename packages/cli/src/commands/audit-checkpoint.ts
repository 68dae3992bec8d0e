import { type CliIo, EXIT } from '../cli-io.js';
import { n, type StoreFlags, withEngine } from './audit-store.js';

/** `warden audit checkpoint`: signs a checkpoint at the head of the chain now, with the engine's key. */
export async function auditCheckpoint(o: StoreFlags & { json?: boolean }, io: CliIo): Promise<number> {
  const cp = await withEngine(o, io, (engine) => engine.checkpoint());
  if (o.json) io.out(`${JSON.stringify(cp, null, 2)}\n`);
  else io.out(`checkpoint signed at seq ${n(cp.seq)}\n  hash   ${cp.hash}\n  key id ${cp.keyId}\n`);
  return EXIT.ok;
}
