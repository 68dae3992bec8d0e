import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, uuidv7 } from '@warden/core';
import Database from 'better-sqlite3';
import { inject } from 'vitest';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { createTestDatabase, withClient } from './postgres-server.js';

/** A store under test and how to throw it away. */
export interface StoreFixture {
  readonly store: Store;
  /** Opens a second store on the same database (another "instance"). */
  reopen(): Promise<Store>;
  readonly location: string;
  /** Runs SQL as an attacker with direct database access would: append-only triggers bypassed. */
  tamper(statements: readonly (readonly [string, ...unknown[]])[]): Promise<void>;
  /** Runs one statement on a connection of its own as the app's database user could: triggers in force. */
  plain(sql: string, ...params: unknown[]): Promise<void>;
  dispose(): Promise<void>;
}

const SQLITE_GUARDS = [
  'audit_events_no_update',
  'audit_events_no_delete',
  'checkpoints_no_update',
  'checkpoints_no_delete',
  'checkpoints_no_replace',
];

/** The dialects every contract test runs against. */
export const DIALECTS = ['sqlite', 'postgres'] as const;

/** A fresh, empty store of the given dialect: a temp SQLite file, or a new database on the run's cluster. */
export async function freshStore(dialect: (typeof DIALECTS)[number]): Promise<StoreFixture> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'warden-store-'));
    const location = join(dir, 'warden.db');
    const store = await openStore(location);
    return {
      store,
      location,
      reopen: () => openStore(location),
      async tamper(statements) {
        const db = new Database(location);
        try {
          for (const t of SQLITE_GUARDS) db.exec(`DROP TRIGGER IF EXISTS ${t}`);
          for (const [sql, ...params] of statements) db.prepare(sql.replaceAll(/\$\d+/g, '?')).run(...params);
        } finally {
          db.close();
        }
      },
      async plain(sql, ...params) {
        const db = new Database(location);
        try {
          db.prepare(sql.replaceAll(/\$\d+/g, '?')).run(...params);
        } finally {
          db.close();
        }
      },
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const location = await createTestDatabase(inject('postgresUrl'), 'contract');
  const store = await openStore(location);
  return {
    store,
    location,
    reopen: () => openStore(location),
    async tamper(statements) {
      await withClient(location, async (client) => {
        // A superuser can switch triggers off; that is why integrity rests on the chain and signatures.
        await client.query('SET session_replication_role = replica');
        for (const [sql, ...params] of statements) await client.query(sql, params);
      });
    },
    async plain(sql, ...params) {
      await withClient(location, (client) => client.query(sql, params));
    },
    dispose: () => store.close(),
  };
}

/** A call.decided event with sensible defaults. */
export function decided(over: Partial<AuditEvent> = {}): AuditEvent {
  const callId = uuidv7();
  return {
    id: callId,
    ts: new Date().toISOString(),
    type: 'call.decided',
    actor: { kind: 'agent', id: over.agent ?? 'billing-agent' },
    agent: 'billing-agent',
    session: 's-1',
    tool: 'stripe.refund',
    callId,
    args: { amount: 120, currency: 'USD' },
    decision: {
      effect: 'allow',
      policyEffect: 'allow',
      mode: 'enforce',
      ruleId: 'refunds-small',
      matchedRuleIds: ['refunds-small'],
      reasons: ['small refunds are fine'],
    },
    policyVersion: 'a'.repeat(64),
    ...over,
  };
}

/** Every `call.decided` event in the store: its call id and the seq it was chained at. */
export async function decidedCallSeqs(store: Store): Promise<Map<string, number>> {
  const stored = new Map<string, number>();
  for (let after = 0; ; ) {
    const rows = await store.readChain(after, 10_000);
    if (rows.length === 0) return stored;
    for (const row of rows) {
      const event = JSON.parse(row.body) as { type: string; callId?: string };
      if (event.type === 'call.decided' && event.callId) stored.set(event.callId, row.seq);
    }
    after = (rows.at(-1) as { seq: number }).seq;
  }
}

/**
 * Every row of every table of a store's database (a SQLite file or a PostgreSQL URL), as text: what anyone
 * holding a dump would read. Tests that promise a value is stored nowhere search this.
 */
export async function everyTableText(location: string): Promise<string> {
  if (!location.startsWith('postgres')) {
    const db = new Database(location, { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      return tables
        .map((t) => `${t.name}\n${JSON.stringify(db.prepare(`SELECT * FROM "${t.name}"`).all())}`)
        .join('\n');
    } finally {
      db.close();
    }
  }
  return withClient(location, async (client) => {
    const { rows } = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    );
    const out: string[] = [];
    for (const { table_name } of rows) {
      const r = await client.query(`SELECT row_to_json(t)::text AS j FROM "${table_name}" t`);
      out.push(table_name, ...r.rows.map((x) => x.j as string));
    }
    return out.join('\n');
  });
}
