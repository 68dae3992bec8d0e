import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;

/** Random bytes drawn in bulk: one system call per 512 ids instead of one per id. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomByte(): number {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++] as number;
}

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a counter and random bits, so ids sort by
 * creation time. Time-ordered ids keep the call-id index of the audit table append-only, which is
 * several times faster to write than random UUIDs scattered over the B-tree.
 */
export function uuidv7(): string {
  const ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    counter = 0;
  } else if (counter < 0xfff) {
    counter += 1;
  } else {
    // 4,096 ids in one millisecond (or a clock that went back): borrow the next millisecond, so ids
    // keep increasing (RFC 9562 §6.2).
    lastMs += 1;
    counter = 0;
  }
  const hexMs = lastMs.toString(16).padStart(12, '0');
  const a = (0x7000 | counter).toString(16);
  let tail = '';
  for (let i = 0; i < 6; i++) tail += HEX[randomByte()];
  const variant = HEX[(randomByte() & 0x3f) | 0x80] as string;
  return `${hexMs.slice(0, 8)}-${hexMs.slice(8)}-${a}-${variant}${HEX[randomByte()]}-${tail}`;
}
