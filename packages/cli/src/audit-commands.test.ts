import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { generateKeyRing, openStore } from '@warden/engine';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { buildAuditDb, eventCount, seqOfCall, tamperSqlite, tempDir } from '../test/audit-fixtures.js';
import { run, useAuditCopies } from '../test/cli-run.js';

const STACK = /\n\s+at .*:\d+:\d+/;

/**
 * 300 calls (seq 2–331: 30 are reviews, each with an approval.requested event) after the key event,
 * signed at 111, 221 and 331, then 5 unsigned (332–336). fresh() is a new copy of it; commands run with
 * the copy's folder as working directory.
 */
const fresh = useAuditCopies({ calls: 300, unsigned: 5 });
/** The seq of the first periodic checkpoint (after call 99). */
const FIRST_SIGNED = eventCount(100);
/** The seq the close checkpoint signs: the last event of the 300 calls. */
const SIGNED = eventCount(300);
/** Every event, the unsigned tail included: also the last seq. */
const TOTAL = eventCount(300, 5);
/** An echo call's decision event (it contains 'echo'), right after the first review call's two events. */
const EDITED = seqOfCall(5);

describe('warden audit verify', () => {
  it('exit 0 on an intact chain, with counts, the last signed seq and the unsigned tail', async () => {
    const { run } = fresh();
    const r = await run('audit', 'verify', '--db', 'warden.db');
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      `intact: ${TOTAL} events (seq 1–${TOTAL}), 3 checkpoints, last signed at seq ${SIGNED}; 5 events not yet signed\n`,
    );
    const json = await run('audit', 'verify', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      ok: true,
      checked: TOTAL,
      lastCheckpointSeq: SIGNED,
      unsignedTail: 5,
    });
  });

  it(`an edited event: exit 1 naming seq ${EDITED}`, async () => {
    const { db, run } = fresh();
    tamperSqlite(db, `UPDATE audit_events SET body = replace(body, 'echo', 'ECHO') WHERE seq = ${EDITED}`);
    const r = await run('audit', 'verify');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `^BROKEN at seq ${EDITED}: event ${EDITED} does not match its hash \\(edited\\) \\(HASH_MISMATCH\\)\n`,
      ),
    );
    const json = await run('audit', 'verify', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out).problem).toEqual({
      code: 'HASH_MISMATCH',
      seq: EDITED,
      message: `event ${EDITED} does not match its hash (edited)`,
    });
  });

  it('a deleted event: exit 1 naming seq 9', async () => {
    const { db, run } = fresh();
    tamperSqlite(db, 'DELETE FROM audit_events WHERE seq = 9');
    const r = await run('audit', 'verify');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^BROKEN at seq 9: .*\(SEQUENCE_GAP\)/);
  });

  it('a truncated tail whose checkpoints were deleted too: caught only with the checkpoints kept outside', async () => {
    const { db, run } = fresh();
    const ex = await run('audit', 'export', '--format', 'jsonl', '--out', 'kept.jsonl');
    expect(ex.code).toBe(0);
    tamperSqlite(db, 'DELETE FROM audit_events WHERE seq > 250', 'DELETE FROM checkpoints WHERE seq > 250');
    const alone = await run('audit', 'verify');
    expect(alone.code).toBe(0);
    expect(alone.out).toMatch(/^intact: 250 events \(seq 1–250\)/);
    const r = await run('audit', 'verify', '--checkpoints', 'kept.jsonl.checkpoints.jsonl');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`^BROKEN at seq 251: events 251–${SIGNED} are missing .*\\(TRUNCATED\\)`),
    );
  });

  it('a tail cut after the last periodic checkpoint is caught by the kept export seal', async () => {
    const { db, run } = fresh();
    expect((await run('audit', 'export', '--format', 'csv', '--out', 'kept.csv')).code).toBe(0);
    const kept = await run('audit', 'verify', '--checkpoints', 'kept.csv.checkpoints.jsonl');
    expect(kept.out).toBe(
      `intact: ${TOTAL} events (seq 1–${TOTAL}), 4 checkpoints, last signed at seq ${TOTAL}\n`,
    );
    const cut = SIGNED + 2;
    tamperSqlite(db, `DELETE FROM audit_events WHERE seq > ${cut}`);
    const r = await run('audit', 'verify', '--checkpoints', 'kept.csv.checkpoints.jsonl');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `^BROKEN at seq ${cut + 1}: events ${cut + 1}–${TOTAL} are missing .*export seal.*\\(TRUNCATED\\)`,
      ),
    );
  });

  it('checks signatures against --public-key instead of the keys in the database', async () => {
    const { dir, run } = fresh();
    expect((await run('audit', 'export', '--format', 'jsonl', '--out', 'a.jsonl')).code).toBe(0);
    expect((await run('audit', 'verify', '--public-key', 'a.jsonl.pub.pem')).code).toBe(0);
    const otherPem = join(dir, 'other.pem');
    writeFileSync(otherPem, generateKeyRing().publicPem);
    const r = await run('audit', 'verify', '--public-key', otherPem);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `^BROKEN at seq ${FIRST_SIGNED}: .* is not among the trusted public keys \\(CHECKPOINT_SIGNATURE\\)`,
      ),
    );
  });

  it('a missing database: exit 2 with a clear error, and no empty database is created', async () => {
    const { dir, run } = fresh();
    for (const cmd of [
      ['verify'],
      ['query'],
      ['export', '--format', 'jsonl', '--out', 'x.jsonl'],
      ['hold', 'list'],
    ]) {
      const r = await run('audit', ...cmd, '--db', 'missing.db');
      expect(r.code).toBe(2);
      expect(r.err).toBe(
        'warden: no database at missing.db: pass --db PATH (or a postgres:// URL), or set WARDEN_DB [USAGE]\n',
      );
    }
    expect(existsSync(join(dir, 'missing.db'))).toBe(false);
    expect(existsSync(join(dir, 'x.jsonl'))).toBe(false);
  });

  it('malformed checkpoints and key files: exit 2 naming the file and line', async () => {
    const { dir, run } = fresh();
    writeFileSync(join(dir, 'cps.jsonl'), '{"kind":"periodic"}\n');
    const bad = await run('audit', 'verify', '--checkpoints', 'cps.jsonl');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(
      /^warden: cps\.jsonl:1 is not a signed checkpoint \(seq: .*\[EXPORT_INVALID\]\n$/,
    );
    writeFileSync(join(dir, 'cps.jsonl'), '\nnot json\n');
    expect((await run('audit', 'verify', '--checkpoints', 'cps.jsonl')).err).toMatch(
      /cps\.jsonl:2 is not JSON/,
    );
    writeFileSync(join(dir, 'key.pem'), 'nothing here');
    const key = await run('audit', 'verify', '--public-key', 'key.pem');
    expect(key.code).toBe(2);
    expect(key.err).toMatch(/holds no PEM public key \[KEYS_INVALID\]/);
    const gone = await run('audit', 'verify', '--checkpoints', 'nope.jsonl');
    expect(gone.code).toBe(2);
    expect(gone.err).toMatch(/^warden: no such file or folder: .*nope\.jsonl\n$/);
  });
});

describe('warden audit export and offline verify', () => {
  const lineOf = (format: string, seq: number) => (format === 'csv' ? seq : seq - 1);

  it.each(['jsonl', 'csv', 'ocsf'])(
    '%s: verifies offline; an edited line fails naming its seq',
    async (format) => {
      const { dir, run } = fresh();
      const out = `audit.${format}`;
      const ex = await run('audit', 'export', '--format', format, '--out', out);
      expect(ex.code).toBe(0);
      expect(ex.out).toBe('');
      const command = `warden audit verify --from-export ${out} --checkpoints ${out}.checkpoints.jsonl --public-key ${out}.pub.pem`;
      expect(ex.err).toContain(`exported ${TOTAL} events (seq 1–${TOTAL}) as ${format} to ${out}\n`);
      expect(ex.err).toContain(`  ${command}\n`);

      const argv = command.split(' ').slice(1);
      const ok = await run(...argv);
      expect(ok.code).toBe(0);
      expect(ok.out).toBe(
        `intact: ${TOTAL} events (seq 1–${TOTAL}), 4 checkpoints, sealed through seq ${TOTAL}\n`,
      );

      const lines = readFileSync(join(dir, out), 'utf8').split('\n');
      const i = lineOf(format, 42);
      lines[i] = (lines[i] as string).replaceAll('billing-agent', 'billing-agenT');
      writeFileSync(join(dir, out), lines.join('\n'));
      const r = await run(...argv);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/^BROKEN at seq 42: event 42 does not match its hash/);
    },
  );

  it('a cut export fails naming the first missing seq; a mangled one is EXPORT_INVALID', async () => {
    const { dir, run } = fresh();
    await run('audit', 'export', '--format', 'jsonl', '--out', 'a.jsonl');
    const path = join(dir, 'a.jsonl');
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    writeFileSync(path, `${lines.slice(0, 300).join('\n')}\n`);
    const argv = [
      'audit',
      'verify',
      '--from-export',
      'a.jsonl',
      '--checkpoints',
      'a.jsonl.checkpoints.jsonl',
    ];
    const cut = await run(...argv, '--public-key', 'a.jsonl.pub.pem');
    expect(cut.code).toBe(1);
    expect(cut.out).toMatch(/^BROKEN at seq 301: .*\(TRUNCATED\)/);
    writeFileSync(path, 'garbage\n');
    const bad = await run(...argv, '--public-key', 'a.jsonl.pub.pem');
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('warden: a.jsonl: line 1 is not JSON [EXPORT_INVALID]\n');
    const usage = await run(...argv);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/--from-export needs --checkpoints FILE and --public-key FILE/);
    const withDb = await run(...argv, '--public-key', 'a.jsonl.pub.pem', '--db', 'warden.db');
    expect(withDb.code).toBe(2);
    expect(withDb.err).toMatch(/drop --db/);
  });

  it('to stdout, with the companions named; a time range exports a contiguous stretch', async () => {
    const { dir, run } = fresh();
    const noCompanions = await run('audit', 'export', '--format', 'jsonl');
    expect(noCompanions.code).toBe(2);
    expect(noCompanions.err).toMatch(/--checkpoints-out FILE --public-key-out FILE/);
    const r = await run(
      'audit',
      'export',
      '--format',
      'jsonl',
      '--from',
      '1h',
      '--checkpoints-out',
      'c.jsonl',
      '--public-key-out',
      'k.pem',
    );
    expect(r.code).toBe(0);
    expect(r.out.trimEnd().split('\n')).toHaveLength(TOTAL);
    expect(r.err).toMatch(/--from-export EXPORT_FILE --checkpoints c\.jsonl --public-key k\.pem/);
    writeFileSync(join(dir, 'e.jsonl'), r.out);
    const ok = await run(
      'audit',
      'verify',
      '--from-export',
      'e.jsonl',
      '--checkpoints',
      'c.jsonl',
      '--public-key',
      'k.pem',
    );
    expect(ok.code).toBe(0);
    const none = await run('audit', 'export', '--format', 'jsonl', '--to', '1h', '--out', 'none.jsonl');
    expect(none.code).toBe(0);
    expect(none.err).toMatch(/^exported 0 events \(nothing in this range\)/);
  });

  it('refuses to export a broken chain: exit 1, no file left behind', async () => {
    const { dir, db, run } = fresh();
    tamperSqlite(db, `UPDATE audit_events SET body = replace(body, 'echo', 'ECHO') WHERE seq = ${EDITED}`);
    const r = await run('audit', 'export', '--format', 'ocsf', '--out', 'a.ocsf');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `refusing to export: event ${EDITED} does not match its hash.*\\(CHAIN_BROKEN\\)\nnothing exported \\(first bad seq ${EDITED}\\)`,
      ),
    );
    expect(existsSync(join(dir, 'a.ocsf'))).toBe(false);
    expect(existsSync(join(dir, 'a.ocsf.checkpoints.jsonl'))).toBe(false);
  });

  it('needs the key file (it signs the seal) and never creates one', async () => {
    const { dir, run } = fresh();
    const r = await run('audit', 'export', '--format', 'csv', '--out', 'a.csv', '--keys', 'nokeys.json');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^warden: no key file at nokeys\.json: pass --keys FILE .*\[KEYS_INVALID\]\n$/);
    expect(existsSync(join(dir, 'nokeys.json'))).toBe(false);
    const missingFormat = await run('audit', 'export', '--out', 'a.csv');
    expect(missingFormat.code).toBe(2);
    expect(missingFormat.err).toMatch(/--format <format>' not specified/);
  });
});

describe('warden audit query', () => {
  it('a table of the first 50 events, and how to get the next page', async () => {
    const { run } = fresh();
    const r = await run('audit', 'query');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^seq +time +type +actor +agent +tool +decision +rule +initiator +session$/);
    expect(lines).toHaveLength(52);
    expect(lines[2]).toMatch(/^1 +\S+Z +key\.added +warden +— +— +— +— +— +—$/);
    expect(lines[7]).toMatch(
      /^6 +\S+ +call\.decided +billing-agent +billing-agent +stripe\.refund +review +refunds +UNVERIFIED: alice +s-1$/,
    );
    // The initiator is marked on the call's own events only: an approval names it again without its proof.
    expect(lines.filter((l) => /approval\.requested/.test(l)).every((l) => / — +s-\d$/.test(l))).toBe(true);
    expect(lines.some((l) => /approval\.requested/.test(l))).toBe(true);
    expect(r.err).toMatch(/^more: --cursor \S+\n$/);
  });

  it('filters narrow; --limit and --cursor page through', async () => {
    const { run } = fresh();
    const blocked = await run('audit', 'query', '--decision', 'block', '--format', 'jsonl', '--limit', '100');
    const records = blocked.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(30);
    expect(records.every((x) => x.event.tool === 'db.drop' && x.event.decision.effect === 'block')).toBe(
      true,
    );
    expect(records[0]).toMatchObject({ seq: seqOfCall(9), event: { decision: { ruleId: 'no-drops' } } });
    expect(blocked.err).toBe('');

    const both = await run(
      'audit',
      'query',
      '--tool',
      'stripe.refund',
      '--session',
      's-0',
      '--triggered-by',
      'alice',
      '--format',
      'jsonl',
    );
    const rows = both.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(
      rows.every(
        (x) =>
          x.event.tool === 'stripe.refund' && x.event.session === 's-0' && x.event.triggeredBy === 'alice',
      ),
    ).toBe(true);

    const seqs: number[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await run(
        'audit',
        'query',
        '--rule',
        'refunds',
        '--limit',
        '12',
        '--format',
        'jsonl',
        ...(cursor ? ['--cursor', cursor] : []),
      );
      expect(r.code).toBe(0);
      seqs.push(
        ...r.out
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l).seq as number),
      );
      cursor = /^more: --cursor (\S+)$/m.exec(r.err)?.[1];
      if (!cursor) break;
    }
    expect(seqs).toEqual(Array.from({ length: 30 }, (_, k) => seqOfCall(4 + 10 * k)));

    const types = await run(
      'audit',
      'query',
      '--type',
      'key.added',
      '--actor',
      'warden',
      '--agent',
      'nobody',
    );
    expect(types.code).toBe(0);
    expect(types.out).toBe('');
    expect(types.err).toBe('no events match\n');
  });

  it('times: ISO, dates and ages; bad ones exit 2 saying how to write them', async () => {
    const { run } = fresh();
    const recent = await run('audit', 'query', '--from', '1h', '--limit', '400', '--format', 'jsonl');
    expect(recent.out.trimEnd().split('\n')).toHaveLength(TOTAL);
    expect((await run('audit', 'query', '--to', '2000-01-01')).err).toBe('no events match\n');
    const iso = await run(
      'audit',
      'query',
      '--from',
      '2000-01-01T00:00:00Z',
      '--to',
      '2999-01-01T00:00:00+02:00',
      '--limit',
      '1',
    );
    expect(iso.code).toBe(0);
    const bad = await run('audit', 'query', '--from', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      'warden: --from "yesterday" is not a time: write an ISO time (2026-05-01T09:00:00Z), a date (2026-05-01) or an age (7d, 12h, 1h30m) [QUERY_INVALID]\n',
    );
    const order = await run('audit', 'query', '--from', '1h', '--to', '2h');
    expect(order.code).toBe(2);
    expect(order.err).toMatch(/must be before to .*\[QUERY_INVALID\]/);
  });

  it('bad filters exit 2 with the reason', async () => {
    const { run } = fresh();
    const type = await run('audit', 'query', '--type', 'call.maybe');
    expect(type.code).toBe(2);
    expect(type.err).toMatch(/^warden: invalid audit query: type: .*"call\.decided".*\[QUERY_INVALID\]\n$/);
    const decision = await run('audit', 'query', '--decision', 'deny');
    expect(decision.code).toBe(2);
    expect(decision.err).toMatch(/Allowed choices are allow, review, block/);
    const limit = await run('audit', 'query', '--limit', 'ten');
    expect(limit.code).toBe(2);
    expect(limit.err).toMatch(/--limit must be a whole number, got "ten"/);
    const big = await run('audit', 'query', '--limit', '100000');
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/limit: .*10000.*\[QUERY_INVALID\]/);
    const cursor = await run('audit', 'query', '--cursor', 'nonsense');
    expect(cursor.code).toBe(2);
    expect(cursor.err).toMatch(/cursor is not one Warden returned/);
    for (const r of [type, decision, limit, big, cursor]) expect(r.err).not.toMatch(STACK);
  });
});

describe('warden audit checkpoint, purge and legal holds', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checkpoint signs the head now; the tail is then signed', async () => {
    const { db, run } = fresh();
    const r = await run('audit', 'checkpoint');
    expect(r.code).toBe(0);
    const hash = /^ {2}hash {3}([0-9a-f]{64})$/m.exec(r.out)?.[1];
    expect(r.out).toMatch(new RegExp(`^checkpoint signed at seq ${TOTAL}\n`));
    const store = await openStore(db);
    try {
      expect((await store.checkpoints()).at(-1)).toMatchObject({ seq: TOTAL, hash, kind: 'on-demand' });
    } finally {
      await store.close();
    }
    // Three from the fixture, the tail signed as the command's engine opened, then the one asked for.
    expect((await run('audit', 'verify')).out).toMatch(
      new RegExp(`, 5 checkpoints, last signed at seq ${TOTAL}\n$`),
    );
    const missing = await run('audit', 'checkpoint', '--keys', 'elsewhere.json');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/no key file at elsewhere\.json/);
  });

  it('purge: nothing expired yet; later, up to a signed checkpoint, and the chain still verifies', async () => {
    const { run } = fresh();
    const now = await run('audit', 'purge', '--retention', '30');
    expect(now.code).toBe(0);
    expect(now.out).toMatch(
      /^nothing purged: nothing has expired; looked for events older than 30 days \(before /,
    );
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 40 * 86_400_000);
    const later = await run('audit', 'purge', '--retention', '30', '--by', 'records-team');
    expect(later.code).toBe(0);
    // The first purge's engine signed the unsigned tail as it opened, so the anchor is the head.
    expect(later.out).toMatch(
      new RegExp(
        `^purged ${TOTAL} events \\(seq 1–${TOTAL}\\) older than 30 days .*checkpoint at seq ${TOTAL}\n$`,
      ),
    );
    vi.useRealTimers();
    const v = await run('audit', 'verify');
    expect(v.code).toBe(0);
    expect(v.out).toMatch(
      new RegExp(`^intact: \\d+ events? \\(seq ${TOTAL + 1}–\\d+; older events purged under retention\\)`),
    );
    const event = await run('audit', 'query', '--type', 'retention.purged', '--format', 'jsonl');
    expect(JSON.parse(event.out).event).toMatchObject({ actor: { kind: 'human', id: 'records-team' } });
    for (const bad of ['0', 'x']) {
      const r = await run('audit', 'purge', '--retention', bad);
      expect(r.code).toBe(2);
    }
  });

  it('legal holds: place, list, block a purge, release', async () => {
    const { run } = fresh();
    const placed = await run(
      'audit',
      'hold',
      'place',
      '--reason',
      'matter 2026-114',
      '--id',
      'h-1',
      '--by',
      'counsel',
    );
    expect(placed.code).toBe(0);
    expect(placed.out).toBe('legal hold h-1 placed by counsel: matter 2026-114\n');
    expect((await run('audit', 'hold', 'place', '--reason', 'again', '--id', 'h-1')).code).toBe(2);
    const list = await run('audit', 'hold', 'list');
    expect(list.out).toMatch(/^id +placed at +by +reason\n.*\nh-1 +\S+ +counsel +matter 2026-114\n$/);
    const json = await run('audit', 'hold', 'list', '--json');
    expect(JSON.parse(json.out)).toEqual([expect.objectContaining({ id: 'h-1', placedBy: 'counsel' })]);

    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 400 * 86_400_000);
    const purge = await run('audit', 'purge', '--retention', '30');
    vi.useRealTimers();
    expect(purge.code).toBe(1);
    expect(purge.err).toMatch(/^legal hold h-1 in place; nothing purged \(LEGAL_HOLD_ACTIVE\)\n/);

    const unknown = await run('audit', 'hold', 'release', 'h-9', '--reason', 'done');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no legal hold has id h-9/);
    const released = await run('audit', 'hold', 'release', 'h-1', '--reason', 'matter closed');
    expect(released.code).toBe(0);
    expect(released.out).toBe(`legal hold h-1 released by ${userInfo().username}: matter closed\n`);
    expect((await run('audit', 'hold', 'list')).err).toBe('no legal holds in place\n');
    const events = await run('audit', 'query', '--type', 'legal_hold.released', '--format', 'jsonl');
    expect(JSON.parse(events.out).event).toMatchObject({
      actor: { kind: 'human', id: userInfo().username },
      data: { holdId: 'h-1', reason: 'matter closed' },
    });
    expect((await run('audit', 'verify')).code).toBe(0);
  });

  it('a hold needs a reason', async () => {
    const { run } = fresh();
    const r = await run('audit', 'hold', 'place');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/required option '--reason <text>' not specified/);
    expect((await run('audit', 'hold', 'place', '--reason', '  ')).code).toBe(2);
  });
});

describe('warden audit on PostgreSQL', () => {
  it('verifies and queries a postgres:// database', async () => {
    const url = await createTestDatabase(inject('postgresUrl'), 'cli_audit');
    const dir = tempDir();
    const keys = join(dir, 'pg.keys.json');
    await buildAuditDb(url, { calls: 120, keysFile: keys });
    const v = await run(['audit', 'verify', '--db', url], dir);
    expect(v.code).toBe(0);
    const last = eventCount(120);
    expect(v.out).toBe(`intact: ${last} events (seq 1–${last}), 2 checkpoints, last signed at seq ${last}\n`);
    const q = await run(['audit', 'query', '--db', url, '--decision', 'block', '--format', 'jsonl'], dir);
    expect(q.code).toBe(0);
    expect(
      q.out
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual(Array.from({ length: 12 }, (_, k) => seqOfCall(9 + 10 * k)));
    const cp = await run(['audit', 'checkpoint', '--db', url, '--keys', keys], dir);
    expect(cp.code).toBe(0);
    expect(cp.out).toMatch(new RegExp(`^checkpoint signed at seq ${last}\n`));
    const ex = await run(
      ['audit', 'export', '--db', url, '--keys', keys, '--format', 'ocsf', '--out', 'pg.ocsf'],
      dir,
    );
    expect(ex.code).toBe(0);
    const off = await run(
      [
        'audit',
        'verify',
        '--from-export',
        'pg.ocsf',
        '--checkpoints',
        'pg.ocsf.checkpoints.jsonl',
        '--public-key',
        'pg.ocsf.pub.pem',
      ],
      dir,
    );
    expect(off.code).toBe(0);
  });
});
