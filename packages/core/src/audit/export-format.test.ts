import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical/canonical-json.js';
import { WardenError } from '../errors/warden-error.js';
import { chainEvents, EMPTY_HEAD } from './audit-chain.js';
import type { AuditEvent, AuditRecord } from './audit-event.js';
import { ChainVerifier } from './chain-verifier.js';
import { keyIdOf, signCheckpoint } from './checkpoint.js';
import { CSV_HEADER, EXPORT_FORMATS, type ExportFormat, formatRecord, parseExport } from './export-format.js';

const TS = '2025-03-01T12:00:00.000Z';

const decided = (i: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  id: `evt-${i}`,
  ts: TS,
  type: 'call.decided',
  actor: { kind: 'agent', id: 'agent-1' },
  agent: 'agent-1',
  session: 'sess-1',
  tool: 'shell.exec',
  args: { cmd: `echo ${i}` },
  decision: {
    effect: 'allow',
    policyEffect: 'allow',
    mode: 'enforce',
    ruleId: 'allow-shell',
    matchedRuleIds: ['allow-shell'],
    reasons: ['shell is allowed'],
  },
  policyVersion: 'v1',
  ...extra,
});

/** Values that stress quoting: separators, quotes, escapes, non-ASCII and a formula lead. */
const awkward: AuditEvent[] = [
  decided(1),
  decided(2, { tool: 'db,query', args: { sql: 'SELECT "a", \'b\' FROM t WHERE x = "1,2"' } }),
  decided(3, { args: { text: 'line one\nline two\r\n\ttabbed', emoji: '🙂 ünïcødé €' } }),
  decided(4, { agent: '-agent', actor: { kind: 'agent', id: '@evil' }, args: { f: '=HYPERLINK("x")' } }),
  decided(5, { type: 'call.completed', decision: undefined, outcome: { status: 'error', error: 'boom' } }),
  { id: 'evt-6', ts: TS, type: 'session.created', actor: { kind: 'human', id: 'ana' } },
];

const rows = chainEvents(EMPTY_HEAD, awkward).rows;
const records: AuditRecord[] = rows.map((r, i) => ({ ...r, event: awkward[i] as AuditEvent }));

function exportText(format: ExportFormat, rs: readonly AuditRecord[] = records): string {
  const lines = rs.map((r) => formatRecord(format, r));
  return `${format === 'csv' ? `${CSV_HEADER}\n` : ''}${lines.join('\n')}\n`;
}

function exportInvalid(text: string): string {
  try {
    parseExport(text);
  } catch (err) {
    expect(err).toBeInstanceOf(WardenError);
    expect((err as WardenError).code).toBe('EXPORT_INVALID');
    return (err as WardenError).message;
  }
  throw new Error('parseExport accepted the text');
}

/** Splits a CSV line into its raw cells, honouring quotes (a reference parser for the assertions). */
function csvCells(line: string): string[] {
  return [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)]
    .map((m) => m[1] as string)
    .slice(0, 14)
    .map((c) => (c.startsWith('"') ? c.slice(1, -1).replaceAll('""', '"') : c));
}

describe('export formats', () => {
  it.each(EXPORT_FORMATS)(
    '%s round-trips every record: body is the canonical JSON of the event',
    (format) => {
      const parsed = parseExport(exportText(format));
      expect(parsed).toEqual(
        records.map((r) => ({ seq: r.seq, prev: r.prev, hash: r.hash, body: canonicalJson(r.event) })),
      );
      expect(parsed.map((p) => p.body)).toEqual(rows.map((r) => r.body));
    },
  );

  it.each(EXPORT_FORMATS)('%s exports verify offline against a seal', (format) => {
    const keys = generateKeyPairSync('ed25519');
    const last = rows[rows.length - 1] as (typeof rows)[number];
    const seal = signCheckpoint(
      {
        kind: 'seal',
        seq: last.seq,
        hash: last.hash,
        ts: TS,
        prev: null,
        keyId: keyIdOf(keys.publicKey),
        fromSeq: 1,
        fromPrev: (rows[0] as (typeof rows)[number]).prev,
      },
      keys.privateKey,
    );
    const v = new ChainVerifier({ mode: 'export', checkpoints: [seal], publicKeys: [keys.publicKey] });
    for (const row of parseExport(exportText(format))) v.push(row);
    expect(v.finish()).toMatchObject({ ok: true, checked: awkward.length });
  });

  it('jsonl is the canonical JSON of seq, prev, hash and event', () => {
    const r = records[0] as AuditRecord;
    expect(formatRecord('jsonl', r)).toBe(
      canonicalJson({ seq: r.seq, prev: r.prev, hash: r.hash, event: r.event }),
    );
  });

  it('ocsf maps to API Activity and carries the record unmapped', () => {
    const ok = JSON.parse(formatRecord('ocsf', records[0] as AuditRecord));
    expect(ok).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      type_uid: 600399,
      time: Date.parse(TS),
      severity_id: 1,
      status_id: 1,
      message: 'shell is allowed',
      actor: { user: { uid: 'agent-1', type: 'agent' } },
      api: { operation: 'shell.exec' },
      metadata: { uid: 'evt-1', sequence: 1 },
      unmapped: { warden: { seq: 1, prev: records[0]?.prev, hash: records[0]?.hash, event: awkward[0] } },
    });
    const failed = JSON.parse(formatRecord('ocsf', records[4] as AuditRecord));
    expect(failed).toMatchObject({ severity_id: 3, status_id: 2, message: 'call.completed' });
    const blocked = decided(9, {
      decision: { ...(decided(9).decision as NonNullable<AuditEvent['decision']>), effect: 'block' },
    });
    expect(
      JSON.parse(formatRecord('ocsf', { ...(records[0] as AuditRecord), event: blocked })),
    ).toMatchObject({
      severity_id: 3,
      status_id: 2,
    });
  });
});

describe('CSV', () => {
  const lines = exportText('csv').split('\n');

  it('starts with the header and has one line per record', () => {
    expect(lines[0]).toBe(CSV_HEADER);
    expect(CSV_HEADER.split(',')).toHaveLength(14);
    expect(lines).toHaveLength(records.length + 2);
  });

  it('quotes cells holding commas or quotes, doubling the quotes', () => {
    const line = formatRecord('csv', records[1] as AuditRecord);
    expect(line).toContain(',"db,query",');
    const cells = csvCells(line);
    expect(cells[6]).toBe('db,query');
    expect(cells[13]).toBe(canonicalJson(awkward[1]));
    expect(line.endsWith(`"${canonicalJson(awkward[1]).replaceAll('"', '""')}"`)).toBe(true);
  });

  it('keeps newlines of the event escaped, so a record is one line', () => {
    const line = formatRecord('csv', records[2] as AuditRecord);
    expect(line).not.toMatch(/[\r\n]/);
    expect(csvCells(line)[13]).toBe(canonicalJson(awkward[2]));
  });

  it('neutralises formula leads in display cells but keeps the event cell exact', () => {
    const cells = csvCells(formatRecord('csv', records[3] as AuditRecord));
    expect(cells[3]).toBe("'@evil");
    expect(cells[4]).toBe("'-agent");
    expect(cells[13]).toBe(canonicalJson(awkward[3]));
    expect(JSON.parse(cells[13] as string)).toMatchObject({ agent: '-agent', actor: { id: '@evil' } });
    for (const lead of ['=', '+', '-', '@', '\t']) {
      const event = decided(7, { tool: `${lead}cmd|' /C calc'!A0` });
      const cell = csvCells(formatRecord('csv', { ...(records[0] as AuditRecord), event }))[6] as string;
      expect(cell.startsWith("'"), JSON.stringify(lead)).toBe(true);
    }
    // A carriage return is flattened to a space (display cells are one line), which no sheet evaluates.
    const cr = decided(7, { tool: "\rcmd|' /C calc'!A0" });
    expect(csvCells(formatRecord('csv', { ...(records[0] as AuditRecord), event: cr }))[6]).toMatch(/^ cmd/);
  });

  it('leaves empty the display cells of absent fields', () => {
    const cells = csvCells(formatRecord('csv', records[5] as AuditRecord));
    expect(cells.slice(4, 11)).toEqual(['', '', '', '', '', '', '']);
  });

  // Display cells are flattened to one line (the event cell keeps the exact value), so records stay lines.
  it('round-trips display values that hold newlines', () => {
    const event = decided(8, { agent: 'two\nlines', tool: 'cr\rlf' });
    const [row] = chainEvents(EMPTY_HEAD, [event]).rows;
    const text = exportText('csv', [{ ...(row as (typeof rows)[number]), event }]);
    expect(parseExport(text)).toEqual([{ seq: 1, prev: row?.prev, hash: row?.hash, body: row?.body }]);
  });
});

describe('parseExport errors', () => {
  const jsonl = exportText('jsonl').split('\n');
  const csv = exportText('csv').split('\n');

  it('accepts an empty export and a header-only CSV', () => {
    expect(parseExport('')).toEqual([]);
    expect(parseExport(`${CSV_HEADER}\n`)).toEqual([]);
  });

  it('names a line that is not JSON', () => {
    const text = [jsonl[0], '{"seq":2,', ...jsonl.slice(2)].join('\n');
    expect(exportInvalid(text)).toBe('line 2 is not JSON');
    expect(exportInvalid([jsonl[0], '', jsonl[1]].join('\n'))).toBe('line 2 is not JSON');
  });

  it('names a CSV line with the wrong number of columns, counting the header as line 1', () => {
    const text = [csv[0], csv[1], `${csv[2]},extra`, csv[3]].join('\n');
    expect(exportInvalid(text)).toBe('line 3 has 15 columns, expected 14');
    const short = [csv[0], (csv[1] as string).replace(/^1,/, '')].join('\n');
    expect(exportInvalid(short)).toBe('line 2 has 13 columns, expected 14');
  });

  it('names a CSV line whose event cell is not JSON', () => {
    const cells = csvCells(csv[1] as string);
    const text = [csv[0], [...cells.slice(0, 13), 'not-json'].join(',')].join('\n');
    expect(exportInvalid(text)).toBe('line 2: the event column is not JSON');
  });

  it.each(['seq', 'prev', 'hash', 'event'])('names a JSON line missing %s', (field) => {
    const record = JSON.parse(jsonl[1] as string);
    delete record[field];
    const text = [jsonl[0], JSON.stringify(record), jsonl[2]].join('\n');
    expect(exportInvalid(text)).toBe('line 2 is not an exported audit record (seq, prev, hash, event)');
  });

  it('names a record with a non-integer seq, in JSON and in CSV', () => {
    const record = { ...JSON.parse(jsonl[0] as string), seq: 1.5 };
    expect(exportInvalid(JSON.stringify(record))).toMatch(/^line 1 is not an exported audit record/);
    const text = [csv[0], (csv[1] as string).replace(/^1,/, 'one,')].join('\n');
    expect(exportInvalid(text)).toMatch(/^line 2 is not an exported audit record/);
  });

  it('rejects JSON values that are not records, null included', () => {
    for (const line of ['null', '42', '"text"', '[]', '{"unmapped":{"warden":null}}']) {
      expect(exportInvalid(line), line).toMatch(/^line 1 is not an exported audit record/);
    }
  });
});
