import { closeSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ExportFormat, isWardenError, type SignedCheckpoint, WardenError } from '@warden/core';
import { type ExportResult, exportAudit, type KeyRing, parseAuditQuery, type Store } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import {
  existingDb,
  existingKeyRing,
  n,
  parseTimeFlag,
  type StoreFlags,
  shellArg,
  shownPath,
  withStore,
} from './audit-store.js';

export interface ExportOptions extends StoreFlags {
  readonly format: ExportFormat;
  readonly from?: string;
  readonly to?: string;
  readonly out?: string;
  readonly checkpointsOut?: string;
  readonly publicKeyOut?: string;
}

/** Where the three files go, resolved; `out` undefined means stdout. */
interface Targets {
  readonly out?: string;
  readonly checkpoints: string;
  readonly publicKey: string;
}

/**
 * `warden audit export`: writes a verified, sealed stretch of the chain (JSONL, CSV or OCSF) plus what
 * an auditor needs to check it offline: the checkpoints file and the public key. Exit 1 when the chain
 * is broken (nothing is written).
 */
export async function auditExport(o: ExportOptions, io: CliIo): Promise<number> {
  existingDb(o.db, io);
  const targets = targetsOf(o, io);
  const range = parseAuditQuery({ from: parseTimeFlag('--from', o.from), to: parseTimeFlag('--to', o.to) });
  const keys = existingKeyRing(o, io);
  let result: ExportResult;
  let pem: string;
  try {
    ({ result, pem } = await withStore(o.db, io, async (store) => {
      const exported = { format: o.format, from: range.from, to: range.to };
      const result = await writeExport(store, keys, exported, targets.out, io);
      return { result, pem: await publicKeysPem(store, keys, result.checkpoints) };
    }));
  } catch (err) {
    if (!isWardenError(err, 'CHAIN_BROKEN')) throw err;
    const seq = (err.details.problem as { seq?: number } | undefined)?.seq;
    io.err(`${err.message} (CHAIN_BROKEN)\n`);
    io.err(
      `nothing exported${seq ? ` (first bad seq ${seq})` : ''}; run \`warden audit verify\` for details\n`,
    );
    return EXIT.failed;
  }
  writeFileSync(targets.checkpoints, result.checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''));
  writeFileSync(targets.publicKey, pem);
  io.err(summary(o.format, result, targets, io));
  return EXIT.ok;
}

function targetsOf(o: ExportOptions, io: CliIo): Targets {
  const out = o.out === undefined || o.out === '-' ? undefined : resolve(io.cwd, o.out);
  if (!out && (!o.checkpointsOut || !o.publicKeyOut)) {
    throw new WardenError(
      'USAGE',
      'the export goes to stdout, so name where its companions go: --checkpoints-out FILE --public-key-out FILE (or use --out FILE, which puts them beside it)',
    );
  }
  return {
    ...(out ? { out } : {}),
    checkpoints: resolve(io.cwd, o.checkpointsOut ?? `${out}.checkpoints.jsonl`),
    publicKey: resolve(io.cwd, o.publicKeyOut ?? `${out}.pub.pem`),
  };
}

/** Streams the export to `out` (through a temp file renamed at the end, so a failure leaves nothing) or stdout. */
async function writeExport(
  store: Store,
  keys: KeyRing,
  o: { format: ExportFormat; from?: string; to?: string },
  out: string | undefined,
  io: CliIo,
): Promise<ExportResult> {
  if (!out) {
    const sink = new BufferedSink((text) => io.out(text));
    const result = await exportAudit(store, keys, { ...o, write: (c) => sink.write(c) });
    sink.flush();
    return result;
  }
  const tmp = `${out}.partial-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const sink = new BufferedSink((text) => writeSync(fd, text));
    const result = await exportAudit(store, keys, { ...o, write: (c) => sink.write(c) });
    sink.flush();
    closeSync(fd);
    renameSync(tmp, out);
    return result;
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Collects lines and writes them in chunks of about 1 MiB: one syscall per line would dominate. */
class BufferedSink {
  readonly #write: (text: string) => void;
  #parts: string[] = [];
  #size = 0;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  write(chunk: string): void {
    this.#parts.push(chunk);
    this.#size += chunk.length;
    if (this.#size >= 1 << 20) this.flush();
  }

  flush(): void {
    if (this.#parts.length === 0) return;
    this.#write(this.#parts.join(''));
    this.#parts = [];
    this.#size = 0;
  }
}

/**
 * The key that signed the seal (this key ring's), plus any older registered key that signed one of
 * the exported checkpoints (before a key rotation), so the auditor can check every signature.
 */
async function publicKeysPem(
  store: Store,
  keys: KeyRing,
  checkpoints: readonly SignedCheckpoint[],
): Promise<string> {
  const needed = new Set(checkpoints.map((c) => c.keyId).filter((id) => id !== keys.keyId));
  if (needed.size === 0) return `${keys.publicPem.trim()}\n`;
  const stored = await store.publicKeys();
  const older = stored.filter((k) => needed.has(k.keyId)).map((k) => k.pem.trim());
  return [keys.publicPem.trim(), ...older, ''].join('\n');
}

function summary(format: ExportFormat, r: ExportResult, t: Targets, io: CliIo): string {
  const where = t.out ? shownPath(t.out, io) : 'stdout';
  const range =
    r.firstSeq === null ? ' (nothing in this range)' : ` (seq ${n(r.firstSeq)}–${n(r.lastSeq ?? 0)})`;
  const exportArg = t.out ? shellArg(shownPath(t.out, io)) : 'EXPORT_FILE';
  const lines = [
    `exported ${n(r.count)} event${r.count === 1 ? '' : 's'}${range} as ${format} to ${where}`,
    `checkpoints: ${shownPath(t.checkpoints, io)} (${r.checkpoints.length}${r.count > 0 ? ', the last a seal over this export' : ''})`,
    `public key:  ${shownPath(t.publicKey, io)}`,
    'an auditor verifies it offline with:',
    `  warden audit verify --from-export ${exportArg} --checkpoints ${shellArg(shownPath(t.checkpoints, io))} --public-key ${shellArg(shownPath(t.publicKey, io))}`,
  ];
  return `${lines.join('\n')}\n`;
}
