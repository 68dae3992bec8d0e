import { WardenError } from '@warden/core';
import { placeLegalHold, releaseLegalHold } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { renderTable } from '../table.js';
import { humanActor, type StoreFlags, withEngine, withStore } from './audit-store.js';

export interface HoldOptions extends StoreFlags {
  readonly reason: string;
  readonly id?: string;
  readonly by?: string;
}

/** `warden audit hold place`: no event is purged while any legal hold is in place. */
export async function auditHoldPlace(o: HoldOptions, io: CliIo): Promise<number> {
  const by = humanActor(o.by);
  const hold = await withEngine(o, io, async (engine) => {
    if (o.id !== undefined && (await engine.store.legalHolds()).some((h) => h.id === o.id)) {
      throw new WardenError('USAGE', `a legal hold with id ${o.id} is already in place; pick another --id`);
    }
    return placeLegalHold(engine, by, o.reason, o.id);
  });
  io.out(`legal hold ${hold.id} placed by ${hold.placedBy}: ${hold.reason}\n`);
  io.err(`nothing is purged until it is released: warden audit hold release ${hold.id} --reason TEXT\n`);
  return EXIT.ok;
}

/** `warden audit hold release ID`: lifts a legal hold, recording who and why. */
export async function auditHoldRelease(id: string, o: HoldOptions, io: CliIo): Promise<number> {
  const by = humanActor(o.by);
  if (!o.reason.trim()) throw new WardenError('USAGE', '--reason must say why the hold is released');
  await withEngine(o, io, async (engine) => {
    if (!(await engine.store.legalHolds()).some((h) => h.id === id)) {
      throw new WardenError(
        'USAGE',
        `no legal hold has id ${id}; \`warden audit hold list\` shows those in place`,
      );
    }
    await releaseLegalHold(engine, by, id, o.reason);
  });
  io.out(`legal hold ${id} released by ${by.id}: ${o.reason}\n`);
  return EXIT.ok;
}

/** `warden audit hold list`: the legal holds in place. */
export async function auditHoldList(o: { db: string; json?: boolean }, io: CliIo): Promise<number> {
  const holds = await withStore(o.db, io, (store) => store.legalHolds());
  if (o.json) io.out(`${JSON.stringify(holds, null, 2)}\n`);
  else if (holds.length === 0) io.err('no legal holds in place\n');
  else {
    const rows = holds.map((h) => [h.id, h.placedAt, h.placedBy, h.reason]);
    io.out(`${renderTable(['id', 'placed at', 'by', 'reason'], rows, [40, 24, 24, 80])}\n`);
  }
  return EXIT.ok;
}
