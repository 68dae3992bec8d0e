import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CHAIN_PROBLEMS,
  parseExport,
  type SignedCheckpoint,
  SignedCheckpointSchema,
  type VerifyReport,
  WardenError,
} from '@warden/core';
import { readPublicKeys, verifyExportRows, verifyStore } from '@warden/engine';
import { type CliIo, EXIT } from '../cli-io.js';
import { progressReporter } from '../cli-progress.js';
import { n, shownPath, withStore } from './audit-store.js';

export interface VerifyOptions {
  readonly db: string;
  /** True when --db was given on the command line (not from WARDEN_DB or the default). */
  readonly dbGiven?: boolean;
  readonly checkpoints?: string;
  readonly publicKey?: string;
  readonly fromExport?: string;
  readonly json?: boolean;
  readonly progress?: boolean;
  /** Also check every query column against its body (COLUMN_MISMATCH). */
  readonly deep?: boolean;
}

/**
 * `warden audit verify`: recomputes the whole chain in the database (or, with --from-export, in an
 * export file, offline) and checks every signed checkpoint; with --deep, also every query column. Exit 0 intact, 1 broken (naming the first
 * sequence number that cannot be trusted).
 */
export async function auditVerify(o: VerifyOptions, io: CliIo): Promise<number> {
  const report = o.fromExport ? verifyExportFile(o, io) : await verifyDatabase(o, io);
  if (o.json) io.out(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const deep = o.deep && report.ok ? '; every query column matches its body' : '';
    io.out(`${describeReport(report, o.fromExport ? 'export' : 'store')}${deep}\n`);
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}

async function verifyDatabase(o: VerifyOptions, io: CliIo): Promise<VerifyReport> {
  const checkpoints = o.checkpoints ? readCheckpoints(o.checkpoints, io) : undefined;
  const publicKeys = o.publicKey ? readKeys(o.publicKey, io) : undefined;
  const progress = progressReporter(io, { force: o.progress, verb: 'verified' });
  try {
    return await withStore(o.db, io, (store) =>
      verifyStore(store, {
        ...(checkpoints ? { checkpoints } : {}),
        ...(publicKeys ? { publicKeys } : {}),
        ...(progress ? { onProgress: progress.report } : {}),
        ...(o.deep ? { deep: true } : {}),
      }),
    );
  } finally {
    progress?.done();
  }
}

function verifyExportFile(o: VerifyOptions, io: CliIo): VerifyReport {
  if (o.dbGiven) {
    throw new WardenError('USAGE', '--from-export verifies a file offline and reads no database; drop --db');
  }
  if (o.deep) {
    throw new WardenError(
      'USAGE',
      '--deep checks the query columns of a database; an export has none, drop --deep',
    );
  }
  if (!o.checkpoints || !o.publicKey) {
    throw new WardenError(
      'USAGE',
      '--from-export needs --checkpoints FILE and --public-key FILE (written beside the export by `warden audit export`)',
    );
  }
  const checkpoints = readCheckpoints(o.checkpoints, io);
  const publicKeys = readKeys(o.publicKey, io);
  const path = resolve(io.cwd, o.fromExport as string);
  const rows = withFileName(path, io, () => parseExport(readFileSync(path, 'utf8')));
  return verifyExportRows(rows, checkpoints, publicKeys);
}

/** A checkpoints file: one SignedCheckpoint as JSON per line; EXPORT_INVALID names the bad line. */
export function readCheckpoints(file: string, io: CliIo): SignedCheckpoint[] {
  const path = resolve(io.cwd, file);
  const shown = shownPath(path, io);
  const out: SignedCheckpoint[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new WardenError(
          'EXPORT_INVALID',
          `${shown}:${i + 1} is not JSON (expected one checkpoint per line)`,
        );
      }
      const parsed = SignedCheckpointSchema.safeParse(value);
      if (!parsed.success) {
        const why = parsed.error.issues.map((x) => `${x.path.join('.') || 'checkpoint'}: ${x.message}`);
        throw new WardenError(
          'EXPORT_INVALID',
          `${shown}:${i + 1} is not a signed checkpoint (${why.join('; ')})`,
        );
      }
      out.push(parsed.data);
    });
  return out;
}

function readKeys(file: string, io: CliIo): KeyObject[] {
  return readPublicKeys(resolve(io.cwd, file));
}

/** Prefixes the export file's name to the EXPORT_INVALID messages of parseExport, which only know lines. */
function withFileName<T>(path: string, io: CliIo, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof WardenError && err.code === 'EXPORT_INVALID') {
      throw new WardenError('EXPORT_INVALID', `${shownPath(path, io)}: ${err.message}`, { ...err.details });
    }
    throw err;
  }
}

/** One line: what was verified, or where and how the chain breaks. */
export function describeReport(r: VerifyReport, mode: 'store' | 'export'): string {
  if (r.problem) {
    const p = r.problem;
    const meaning = CHAIN_PROBLEMS[p.code] ?? '';
    return `BROKEN at seq ${p.seq}: ${p.message} (${p.code})\n  ${meaning}`;
  }
  if (r.firstSeq === null || r.lastSeq === null) {
    return mode === 'export' ? 'intact: the export holds no events' : 'intact: no events yet';
  }
  const plural = (k: number, what: string) => `${n(k)} ${what}${k === 1 ? '' : 's'}`;
  const purged = mode === 'store' && r.firstSeq > 1 ? '; older events purged under retention' : '';
  const head = `intact: ${plural(r.checked, 'event')} (seq ${n(r.firstSeq)}–${n(r.lastSeq)}${purged}), ${plural(r.checkpointsChecked, 'checkpoint')}`;
  if (mode === 'export') return `${head}, sealed through seq ${n(r.lastSeq)}`;
  const signed =
    r.lastCheckpointSeq === null ? ', none signed yet' : `, last signed at seq ${n(r.lastCheckpointSeq)}`;
  const tail = r.unsignedTail > 0 ? `; ${plural(r.unsignedTail, 'event')} not yet signed` : '';
  return `${head}${signed}${tail}`;
}
