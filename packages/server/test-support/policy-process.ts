/**
 * What the policy-file process tests ask a running `warden serve`: which version is in force, and which
 * changes the trail records. One place, so every such test reads the server the same way.
 */
import { type AuditRecord, compilePolicySources } from '@warden/core';
import { expect } from 'vitest';
import { eventually } from './eventually.js';
import { api, type Served } from './serve-process.js';

/** The version `text` compiles to, as `warden policy lint` reports it. */
export function versionOf(text: string): string {
  return compilePolicySources([{ file: 'p.yaml', text }]).version;
}

/** Waits until `server` reports `version` on both /readyz and GET /v1/policy (read with `adminKey`). */
export async function waitForVersion(server: Served, version: string, adminKey: string): Promise<void> {
  await eventually(`${server.url} reporting ${version}`, async () => {
    const ready = await api<{ checks: { policy: string } }>(server.url, 'GET', '/readyz');
    const shown = await api<{ version: string }>(server.url, 'GET', '/v1/policy', { key: adminKey });
    return shown.body.version === version && ready.body.checks.policy === `ok ${version.slice(0, 19)}`
      ? true
      : undefined;
  });
}

/** Every recorded `policy.changed`, oldest first. */
export async function policyChanges(server: Served, adminKey: string): Promise<AuditRecord[]> {
  const r = await api<{ records: AuditRecord[] }>(
    server.url,
    'GET',
    '/v1/audit/events?type=policy.changed&limit=100',
    { key: adminKey },
  );
  expect(r.status).toBe(200);
  return r.body.records;
}
