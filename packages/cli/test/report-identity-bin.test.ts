import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testEngine } from '../../engine/test-support/engine-fixtures.js';
import {
  type IdentitySeed,
  SEED_ISSUER,
  seedIdentities,
  VERIFIED_IDENTITY,
} from '../../engine/test-support/identity-seed.js';
import { freshStore, type StoreFixture } from '../../engine/test-support/store-fixtures.js';
import { tempDir } from './audit-fixtures.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the real `warden` entry point in its own process, as a user would. */
function warden(args: string[]) {
  const { WARDEN_DB: _db, WARDEN_KEYS: _keys, ...env } = process.env;
  const r = spawnSync(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    { cwd: REPO, encoding: 'utf8', timeout: 60_000, env },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);

describe('warden report soc2: CC6 identities by how they were verified (the real process)', () => {
  let fx: StoreFixture;
  let dir: string;
  let seed: IdentitySeed;
  let md: string;
  let html: string;

  beforeAll(async () => {
    fx = await freshStore('sqlite');
    dir = tempDir();
    const engine = await testEngine(fx);
    try {
      seed = await seedIdentities(engine);
      await engine.checkpoint();
    } finally {
      await engine.close();
    }
    const r = warden([
      'report',
      'soc2',
      '--db',
      fx.location,
      '--from',
      day(-1),
      '--to',
      day(1),
      '--out',
      join(dir, 'cc6'),
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('identities: 2 decisions relied on unverified claims; identities refused: 3\n');
    md = readFileSync(join(dir, 'cc6.md'), 'utf8');
    html = readFileSync(join(dir, 'cc6.html'), 'utf8');
  }, 120_000);
  afterAll(async () => {
    await fx?.dispose();
  });

  it('Markdown: identities grouped by how they were verified, with their evidence', () => {
    expect(md).toContain('### Identities by how they were verified');
    expect(md).toMatch(/\| ⚠ Claimed, unverified \| 2 \| 1 \| 1 \|/);
    expect(md).toContain(
      `| SSO (issuer + subject) | alice@acme.example | ${SEED_ISSUER} u-alice | initiator |`,
    );
    expect(md).toContain(`| SSO (issuer + subject) | lee@acme.example | ${SEED_ISSUER} u-lee | actor |`);
    expect(md).toContain('| API key | lee | key_lee | actor |');
    expect(md).toContain('| Task token | planner | — | delegate |');
    expect(md).toContain('| ⚠ Claimed, unverified | alice | — | initiator |');
  });

  it('flags the decisions that relied on unverified claims, and only those', () => {
    expect(md).toContain('2 decisions relied on unverified claims.');
    const flagged = md.split('### Decisions that relied on unverified claims')[1]?.split('### ')[0] ?? '';
    expect(flagged).toContain(
      `| call.decided | review | ${seed.claimedApproval} | billing-agent | stripe.refund | ⚠ initiator alice, delegate planner | the event |`,
    );
    expect(flagged).toContain(`| approval.decided | approved | ${seed.claimedApproval} |`);
    expect(flagged).not.toContain(seed.verifiedApproval);
    expect(md).toMatch(/\| Decisions relying on unverified claims \| 2 \|/);
  });

  it('audit query marks an unverified initiator in its table; JSONL holds the recorded identity as stored', async () => {
    const table = warden(['audit', 'query', '--db', fx.location, '--type', 'call.decided']);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/ initiator +session$/);
    expect(lines.find((l) => l.includes('s-claimed'))).toMatch(/ UNVERIFIED: alice +s-claimed$/);
    expect(lines.find((l) => l.includes('s-verified'))).toMatch(/ SSO: alice@acme\.example +s-verified$/);
    const jsonl = warden([
      'audit',
      'query',
      '--db',
      fx.location,
      '--type',
      'call.decided',
      '--format',
      'jsonl',
    ]);
    const events = jsonl.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: { callId: string; identity?: unknown } });
    expect(events.find((r) => r.event.callId === seed.verifiedCallId)?.event.identity).toEqual(
      VERIFIED_IDENTITY,
    );
    // The claimed call: no identity recorded (older engines), or one that says its initiator was claimed.
    const claimed = events.find((r) => r.event.callId === seed.claimedCallId)?.event as
      | { identity?: { initiator?: { method: string } } }
      | undefined;
    expect(claimed).toBeDefined();
    expect(claimed?.identity?.initiator?.method ?? 'claimed').toBe('claimed');
    expect(Object.keys(events[0] ?? {}).sort()).toEqual(['event', 'hash', 'prev', 'seq']);
  });

  it('counts identity refusals by reason and role changes; HTML marks claims as a warning', () => {
    expect(md).toContain('| TASK_TOKEN_INVALID: expired | 2 |');
    expect(md).toContain('3 identity.refused events');
    expect(md).toContain('1 identity.roles_changed event ');
    expect(html).toContain('Identities by how they were verified');
    expect(html).toMatch(/<td class="warn">Claimed, unverified<\/td>/);
    const flagged =
      html.split('Decisions that relied on unverified claims')[1]?.split('Identities refused')[0] ?? '';
    expect(flagged).toContain(seed.claimedApproval);
    expect(flagged).not.toContain(seed.verifiedApproval);
  });
});
