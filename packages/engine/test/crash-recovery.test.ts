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
