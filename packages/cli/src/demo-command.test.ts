/**
 * `warden demo` in this process, unattended (`--auto-approve --exit`): the whole story against a real
 * server on a fresh SQLite file, the trail it leaves, and a folder that already holds data left alone.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@warden/core';
import { openStore } from '@warden/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../test/cli-run.js';
import { expectDemoOutput, expectDemoTrail } from '../test/demo-expectations.js';
import { demo } from './commands/demo.js';

const STACK = /\n\s+at .*:\d+:\d+/;
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'warden-demo-test-'));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('the demo policy', () => {
  it('lints clean and passes its own tests', async () => {
    const lint = await run(['policy', 'lint', '--strict', 'packages/cli/demo/policy.yaml'], REPO);
    expect(lint.code, lint.out + lint.err).toBe(0);
    const tests = await run(['policy', 'test', 'packages/cli/demo/policy.test.yaml'], REPO);
    expect(tests.code, tests.out + tests.err).toBe(0);
    expect(tests.out).toMatch(/6 passed, 0 failed/);
  });
});

describe('warden demo --auto-approve --exit', () => {
  it('tells the whole story, leaves exactly the expected verifiable trail, and refuses to run on it again', async () => {
    const dir = join(root, 'story');
    const r = await run(['demo', '--auto-approve', '--exit', '--port', '0', '--dir', dir], root);
    expect(r.err).not.toMatch(STACK);
    expect(r.code, r.err).toBe(0);
    expectDemoOutput(r.out);
    expect(r.out).toContain(`database   ${join(dir, 'warden.db')}`);
    expect(r.err).toMatch(/stopped; the audit trail is flushed and checkpointed/);
    await expectDemoTrail(join(dir, 'warden.db'));

    const verify = await run(['audit', 'verify', '--db', join(dir, 'warden.db')], root);
    expect(verify.code, verify.out + verify.err).toBe(0);

    // Again on the same folder: refused before anything is opened; the database is untouched.
    const before = await headSeq(join(dir, 'warden.db'));
    const again = await run(['demo', '--auto-approve', '--exit', '--port', '0', '--dir', dir], root);
    expect(again.code).toBe(2);
    expect(again.out).toBe('');
    expect(again.err).toMatch(
      /already holds a Warden database \(warden\.db\); the demo always starts on a fresh/,
    );
    expect(again.err).not.toMatch(STACK);
    expect(await headSeq(join(dir, 'warden.db'))).toBe(before);
  });

  it('refuses a folder with anything else in it, and a bad port, without touching either', async () => {
    const dir = join(root, 'busy');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    const busy = await run(['demo', '--exit', '--auto-approve', '--dir', dir], root);
    expect(busy.code).toBe(2);
    expect(busy.err).toMatch(/--dir .*busy is not empty \(1 entry\)/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);

    const port = await run(
      ['demo', '--exit', '--auto-approve', '--port', 'seventy', '--dir', join(root, 'p')],
      root,
    );
    expect(port.code).toBe(2);
    expect(port.err).toMatch(/--port seventy is not a port number/);
  });
});

async function headSeq(db: string): Promise<number> {
  const store = await openStore(db);
  try {
    return (await store.head()).seq;
  } finally {
    await store.close();
  }
}

describe('warden demo, attended', () => {
  it('waits for a person; Ctrl-C withdraws the held refund and stops the server gracefully', async () => {
    const dir = join(root, 'attended');
    let out = '';
    let err = '';
    const io = { out: (t: string) => (out += t), err: (t: string) => (err += t), cwd: root };
    const signals = new EventEmitter();
    const ran = demo({ port: '0', dir }, io, signals);
    const deadline = Date.now() + 20_000;
    while (!out.includes('Your turn.')) {
      if (Date.now() > deadline) throw new Error(`not held for a person:\n${out}\n${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(out).toMatch(
      /Open http:\/\/127\.0\.0\.1:\d+\/approvals\/apr_[\w-]+ and sign in with the approver key of ana@demo\.example/,
    );
    expect(out).toMatch(/npm run warden -- approvals approve apr_[0-9a-f-]+/);
    signals.emit('SIGINT');
    expect(await ran).toBe(0);
    expect(err).toMatch(/SIGINT: stopping the demo…\nwarden: stopped; the audit trail is flushed/);
    expect(out).not.toContain('What to look at');
    const store = await openStore(join(dir, 'warden.db'));
    try {
      const events = (await store.readChain(0, 1_000)).map((r) => JSON.parse(r.body) as AuditEvent);
      const decided = events.filter((e) => e.type === 'approval.decided').map((e) => e.data);
      expect(decided).toMatchObject([{ outcome: 'cancelled' }]);
      expect(events.filter((e) => e.type === 'call.completed' && e.tool === 'billing.refund')).toHaveLength(
        1,
      );
    } finally {
      await store.close();
    }
  });

  it('listens on 7400 when it is free, else on a free port, and says so', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.once('error', () => resolve()); // someone else holds 7400 already: just as good
      holder.listen({ port: 7400, host: '127.0.0.1' }, () => resolve());
    });
    try {
      const r = await run(['demo', '--auto-approve', '--exit', '--dir', join(root, 'fallback')], root);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(
        /dashboard {2}http:\/\/127\.0\.0\.1:(?!7400\b)\d+ {2}\(port 7400 is taken, so a free port it is\)/,
      );
    } finally {
      await new Promise<void>((resolve) => (holder.listening ? holder.close(() => resolve()) : resolve()));
    }
  });
});
