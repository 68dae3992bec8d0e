import { isWardenError } from '@warden/core';
import { purgeExpired } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { humanActor, n, parseCount, type StoreFlags, withEngine } from './audit-store.js';

export interface PurgeOptions extends StoreFlags {
  readonly retention: string;
  readonly by?: string;
}

/**
 * `warden audit purge --retention DAYS`: removes events older than the retention period, up to the
 * last signed checkpoint before the cutoff. Exit 1 when a legal hold forbids it.
 */
export async function auditPurge(o: PurgeOptions, io: CliIo): Promise<number> {
  const retentionDays = parseCount('--retention', o.retention, '365') as number;
  const by = humanActor(o.by);
  try {
    const outcome = await withEngine(o, io, (engine) => purgeExpired(engine, { retentionDays, by }));
    const cutoff = `older than ${n(retentionDays)} day${retentionDays === 1 ? '' : 's'} (before ${outcome.cutoff})`;
    if (outcome.purged === 0 || outcome.throughSeq === null) {
      io.out(`nothing purged: ${outcome.reason ?? 'nothing has expired'}; looked for events ${cutoff}\n`);
    } else {
      const from = outcome.throughSeq - outcome.purged + 1;
      io.out(
        `purged ${n(outcome.purged)} events (seq ${n(from)}–${n(outcome.throughSeq)}) ${cutoff}; ` +
          `the rest stays verifiable from the signed checkpoint at seq ${n(outcome.throughSeq)}\n`,
      );
      const st = outcome.state;
      if (st && st.approvals + st.grants + st.notifications > 0) {
        io.out(
          `also removed, finished before the cutoff: ${n(st.approvals)} approval requests, ` +
            `${n(st.grants)} grants, ${n(st.notifications)} delivered notifications\n`,
        );
      }
    }
    return EXIT.ok;
  } catch (err) {
    if (!isWardenError(err, 'LEGAL_HOLD_ACTIVE')) throw err;
    io.err(`${err.message} (LEGAL_HOLD_ACTIVE)\n`);
    io.err('see `warden audit hold list`; `warden audit hold release ID --reason TEXT` lifts a hold\n');
    return EXIT.failed;
  }
}
