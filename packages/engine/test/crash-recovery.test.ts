import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { verifyStore } from '../src/audit/verify-store.js';
import { readKeyRing } from '../src/keys/key-ring.js';
import { openStore } from '../src/store/open-store.js';
import { testEngine } from '../test-support/engine-fixtures.js';
import { createTestDatabase } from '../test-support/postgres-server.js';
import { decidedCallSeqs } from '../test-support/store-fixtures.js';

const ENGINE_DIR = fileURLToPath(new URL('../', import.meta.url));

/** Runs the append worker until it has acknowledged `acks` decisions, then kills it with SIGKILL. */
async function appendThenKill(db: string, keysFile: string, acks: number): Promise<Map<string, number>> {
  const child = spawn(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'test-support/append-worker.ts', db, keysFile],
    {
      cwd: ENGINE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const acked = new Map<string, number>();
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`worker exited early (${code}): ${stderr}`));
    });
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [tag, callId, seq] = line.split(' ');
        if (tag === 'ack') acked.set(callId as string, Number(seq));
      }
      if (acked.size >= acks && !child.killed) child.kill('SIGKILL');
    });
  });
  return acked;
}

/** Starts the worker in idle mode (a restart: it only opens the engine); resolves once it is ready. */
async function restart(db: string, keysFile: string): Promise<{ kill(): Promise<string> }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@warden/source', '--import', 'tsx', 'test-support/append-worker.ts', db, keysFile, 'idle'],
    { cwd: ENGINE_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`restart exited (${code}): ${stderr}`)));
  });
  return {
    async kill() {
      child.kill('SIGKILL');
      await exited;
      return stderr;
    },
  };
}

/** Events after the last signed checkpoint. */
async function unsignedEvents(db: string): Promise<number> {
  const store = await openStore(db);
  try {
    const head = await store.head();
    const last = (await store.checkpoints()).filter((c) => c.kind !== 'seal').at(-1);
    return head.seq - (last?.seq ?? 0);
  } finally {
    await store.close();
  }
}

describe.each(['sqlite', 'postgres'] as const)('kill -9 in the middle of appends (%s)', (dialect) => {
  it('loses no acknowledged event, and the chain verifies and continues after restart', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
    const db =
      dialect === 'sqlite'
        ? join(dir, 'warden.db')
        : await createTestDatabase(inject('postgresUrl'), 'crash');
    const keysFile = join(dir, 'keys.json');
    const acked = await appendThenKill(db, keysFile, 3_000);
    expect(acked.size).toBeGreaterThanOrEqual(3_000);

    const store = await openStore(db);
    try {
      const stored = await decidedCallSeqs(store);
      const missing = [...acked].filter(([id, seq]) => stored.get(id) !== seq);
      expect(missing).toEqual([]);
      expect(await verifyStore(store)).toMatchObject({ ok: true });

      const fx = {
        store,
        location: db,
        reopen: () => openStore(db),
        tamper: async () => {},
        plain: async () => {},
        dispose: async () => {},
      };
      const engine = await testEngine(fx, { keys: readKeyRing(keysFile) });
      const after = await engine.check({ agent: 'billing-agent', tool: 'echo' });
      expect(after.auditSeq).toBe((await store.head()).seq);
      await engine.close();
      expect(await verifyStore(store)).toMatchObject({ ok: true, unsignedTail: 0 });
    } finally {
      await store.close();
    }
  });
});

describe.each(['sqlite', 'postgres'] as const)('a restart after kill -9 (%s)', (dialect) => {
  it('signs what the dead process left unsigned before any new event arrives, once', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-restart-'));
    const db =
      dialect === 'sqlite'
        ? join(dir, 'warden.db')
        : await createTestDatabase(inject('postgresUrl'), 'restart');
    const keysFile = join(dir, 'keys.json');
    // Two crashes, as in the report that found this: each leaves the events since its last checkpoint.
    // Kills between two checkpoints (every 500 events), not just after one.
    await appendThenKill(db, keysFile, 1_700);
    await appendThenKill(db, keysFile, 1_300);
    const unsignedAfterCrash = await unsignedEvents(db);
    expect(unsignedAfterCrash).toBeGreaterThan(0);
    const headBefore = (await openStore(db).then(async (s) => [await s.head(), await s.close()]))[0];

    // PostgreSQL: three instances start at once; the chain lock lets exactly one of them sign.
    const instances = await Promise.all(
      Array.from({ length: dialect === 'postgres' ? 3 : 1 }, () => restart(db, keysFile)),
    );
    const unsignedAfterRestart = await unsignedEvents(db);
    const store = await openStore(db);
    try {
      expect(await store.head()).toEqual(headBefore); // no new event arrived
      const cps = await store.checkpoints();
      expect(cps.at(-1)).toMatchObject({ seq: headBefore?.seq, hash: headBefore?.hash, kind: 'periodic' });
      expect(cps.filter((c) => c.seq === headBefore?.seq)).toHaveLength(1);
      expect(unsignedAfterRestart).toBe(0);
      expect(await verifyStore(store)).toMatchObject({ ok: true, unsignedTail: 0 });
    } finally {
      await store.close();
    }
    const stderr = await Promise.all(instances.map((i) => i.kill()));
    expect(stderr.join('')).not.toMatch(/error/);
    console.log(
      `restart (${dialect}): ${unsignedAfterCrash} events unsigned after two kill -9, ${unsignedAfterRestart} after restart`,
    );
  });
});
