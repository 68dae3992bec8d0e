import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

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
  const rand = randomBytes(8);
  const hexMs = lastMs.toString(16).padStart(12, '0');
  const a = (0x7000 | counter).toString(16);
  const b = (((rand[0] as number) & 0x3f) | 0x80).toString(16).padStart(2, '0') + hex(rand, 1, 2);
  return `${hexMs.slice(0, 8)}-${hexMs.slice(8)}-${a}-${b}-${hex(rand, 2, 8)}`;
}

function hex(buf: Buffer, from: number, to: number): string {
  return buf.subarray(from, to).toString('hex');
}
