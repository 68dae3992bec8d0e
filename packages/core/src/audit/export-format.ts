import { EXPORT_FORMATS, type ExportFormat } from '@warden/api';
import { canonicalJson } from '../canonical/canonical-json.js';
import { WardenError } from '../errors/warden-error.js';
import type { AuditEvent, AuditRecord } from './audit-event.js';
import type { VerifiableRow } from './chain-verifier.js';

/**
 * Export formats. Each line carries the whole chained record (seq, prev, hash and the event), so an
 * auditor can verify any export offline with the checkpoints file and the public key, whatever the
 * format: JSONL for tools, CSV for spreadsheets, OCSF (API Activity, class 6003) for a SIEM.
 */
export { EXPORT_FORMATS, type ExportFormat };

const CSV_COLUMNS = [
  'seq',
  'ts',
  'type',
  'actor',
  'agent',
  'session',
  'tool',
  'effect',
  'rule',
  'triggered_by',
  'policy_version',
  'prev',
  'hash',
  'event',
] as const;

/** The first line of a CSV export. */
export const CSV_HEADER = CSV_COLUMNS.join(',');

/** One exported line (no trailing newline). */
export function formatRecord(format: ExportFormat, r: AuditRecord): string {
  if (format === 'jsonl') return canonicalJson({ seq: r.seq, prev: r.prev, hash: r.hash, event: r.event });
  if (format === 'ocsf') return canonicalJson(toOcsf(r));
  const e = r.event;
  const cells = [
    String(r.seq),
    e.ts,
    e.type,
    e.actor.id,
    e.agent ?? '',
    e.session ?? '',
    e.tool ?? '',
    e.decision?.effect ?? '',
    e.decision?.ruleId ?? '',
    e.triggeredBy ?? '',
    e.policyVersion ?? '',
    r.prev,
    r.hash,
  ].map(csvDisplayCell);
  return [...cells, csvCell(canonicalJson(e))].join(',');
}

/** OCSF API Activity: who called which operation with what outcome; the Warden record rides in `unmapped`. */
function toOcsf(r: AuditRecord): Record<string, unknown> {
  const e = r.event;
  const blocked = e.decision?.effect === 'block' || e.outcome?.status === 'error';
  return {
    category_uid: 6,
    class_uid: 6003,
    activity_id: 99,
    type_uid: 600399,
    time: Date.parse(e.ts),
    severity_id: blocked ? 3 : 1,
    status_id: blocked ? 2 : 1,
    message: e.decision?.reasons.join('; ') ?? e.type,
    actor: { user: { uid: e.actor.id, type: e.actor.kind } },
    api: { operation: e.tool ?? e.type, service: { name: 'warden' } },
    metadata: {
      version: '1.1.0',
      uid: e.id,
      log_name: 'warden.audit',
      sequence: r.seq,
      product: { name: 'Warden', vendor_name: 'Warden' },
    },
    unmapped: { warden: { seq: r.seq, prev: r.prev, hash: r.hash, event: e } },
  };
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Display cells are neutralised against spreadsheet formula injection; the `event` cell is exact. */
function csvDisplayCell(s: string): string {
  // Display cells stay on one line (the event cell holds the exact value), so a record is one line.
  const flat = s.replace(/[\r\n]+/g, ' ');
  return csvCell(/^[=+\-@\t]/.test(flat) ? `'${flat}` : flat);
}

/** Parses an export back into rows to verify; EXPORT_INVALID names the first bad line. */
export function parseExport(text: string): VerifiableRow[] {
  const lines = text
    .split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    .filter((l, i, all) => l.length > 0 || i < all.length - 1);
  if (lines[0] === CSV_HEADER) return lines.slice(1).map((l, i) => fromCsv(l, i + 2));
  return lines.map((line, i) => fromJson(line, i + 1));
}

function fromJson(line: string, n: number): VerifiableRow {
  let v: unknown;
  try {
    v = JSON.parse(line) ?? {};
  } catch {
    throw new WardenError('EXPORT_INVALID', `line ${n} is not JSON`);
  }
  const o = v as { unmapped?: { warden?: unknown } };
  return record((o.unmapped?.warden ?? v) as Record<string, unknown>, n);
}

function fromCsv(line: string, n: number): VerifiableRow {
  const cells = splitCsv(line);
  if (cells.length !== CSV_COLUMNS.length) {
    throw new WardenError(
      'EXPORT_INVALID',
      `line ${n} has ${cells.length} columns, expected ${CSV_COLUMNS.length}`,
    );
  }
  let event: unknown;
  try {
    event = JSON.parse(cells[13] as string);
  } catch {
    throw new WardenError('EXPORT_INVALID', `line ${n}: the event column is not JSON`);
  }
  return record({ seq: Number(cells[0]), prev: cells[11], hash: cells[12], event }, n);
}

function record(o: Record<string, unknown>, n: number): VerifiableRow {
  const { seq, prev, hash, event } = o;
  if (
    !Number.isSafeInteger(seq) ||
    typeof prev !== 'string' ||
    typeof hash !== 'string' ||
    typeof event !== 'object' ||
    event === null
  ) {
    throw new WardenError(
      'EXPORT_INVALID',
      `line ${n} is not an exported audit record (seq, prev, hash, event)`,
    );
  }
  return { seq: seq as number, prev, hash, body: canonicalJson(event as AuditEvent) };
}

function splitCsv(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let s = '';
      i += 1;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          s += '"';
          i += 2;
        } else if (line[i] === '"') break;
        else {
          s += line[i];
          i += 1;
        }
      }
      cells.push(s);
      i += 2;
    } else {
      const end = line.indexOf(',', i);
      const stop = end === -1 ? line.length : end;
      cells.push(line.slice(i, stop));
      i = stop + 1;
    }
  }
  return cells;
}
