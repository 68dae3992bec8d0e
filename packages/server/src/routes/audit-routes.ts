import { PassThrough } from 'node:stream';
import {
  AuditExportQuerySchema,
  AuditPageSchema,
  AuditQueryParamsSchema,
  AuditRecordSchema,
  AuditSeqParamsSchema,
  AuditVerifyQuerySchema,
  AuditVerifyResultSchema,
  CheckpointListSchema,
  CheckpointRangeQuerySchema,
  type ExportFormat,
  PublicKeyListSchema,
  SignedCheckpointSchema,
} from '@warden/api';
import { WardenError } from '@warden/core';
import { exportAudit, parseAuditQuery, verifyStore } from '@warden/engine';
import { defineRoute } from '../http/route-spec.js';

const READERS = ['approver', 'admin', 'auditor'] as const;
const AUDITORS = ['admin', 'auditor'] as const;

const MEDIA: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
  ocsf: 'application/x-ndjson',
};

export const auditRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/audit/events',
    tag: 'audit',
    summary: 'Query the audit trail with filters; page with nextCursor.',
    roles: READERS,
    query: AuditQueryParamsSchema,
    response: { status: 200, schema: AuditPageSchema },
    errors: ['QUERY_INVALID'],
    handler: ({ query, ctx }) => ctx.engine.store.queryAudit(parseAuditQuery(query)),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/events/:seq',
    tag: 'audit',
    summary: 'One audit event by its sequence number.',
    roles: READERS,
    params: AuditSeqParamsSchema,
    response: { status: 200, schema: AuditRecordSchema },
    errors: ['EVENT_NOT_FOUND'],
    async handler({ params, ctx }) {
      const [row] = await ctx.engine.store.readChain(params.seq - 1, 1);
      if (!row || row.seq !== params.seq) {
        throw new WardenError('EVENT_NOT_FOUND', `no audit event has seq ${params.seq}`);
      }
      return { seq: row.seq, prev: row.prev, hash: row.hash, event: JSON.parse(row.body) };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/export',
    tag: 'audit',
    summary:
      'Stream a verified stretch of the chain as JSONL, CSV or OCSF. The checkpoints an auditor needs to verify it offline (the stored ones up to its end and a seal signed for exactly this stretch) follow in the HTTP trailer Warden-Checkpoints: base64url of a JSON array, one JSONL line each for `warden audit verify --checkpoints`.',
    roles: AUDITORS,
    query: AuditExportQuerySchema,
    response: { status: 200, stream: 'application/x-ndjson' },
    errors: ['CHAIN_BROKEN', 'QUERY_INVALID'],
    async handler({ query, ctx, reply }) {
      const out = new PassThrough();
      let started: (() => void) | undefined;
      const firstChunk = new Promise<void>((resolve) => {
        started = resolve;
      });
      const done = exportAudit(ctx.engine.store, ctx.engine.keys, {
        format: query.format,
        ...(query.from ? { from: query.from } : {}),
        ...(query.to ? { to: query.to } : {}),
        write: async (chunk) => {
          started?.();
          if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
        },
      });
      // Until the first line, a failure (a broken chain) is an ordinary error response.
      const first = await Promise.race([
        firstChunk.then(() => 'streaming' as const),
        done.then(() => 'done' as const),
      ]);
      done.then(
        (r) => {
          out.end();
          return r;
        },
        (err) => out.destroy(err),
      );
      if (first === 'done') await done;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .header('content-type', MEDIA[query.format])
        .header(
          'content-disposition',
          `attachment; filename="warden-audit-${stamp}.${query.format === 'csv' ? 'csv' : 'jsonl'}"`,
        )
        .trailer('warden-checkpoints', async () =>
          Buffer.from(JSON.stringify((await done).checkpoints)).toString('base64url'),
        )
        .send(out);
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/verify',
    tag: 'audit',
    summary:
      'Verify the whole stored chain and its signed checkpoints; ok:false names the first bad seq. deep=true also re-derives every query column from its body (COLUMN_MISMATCH names the seq and column).',
    roles: AUDITORS,
    query: AuditVerifyQuerySchema,
    response: { status: 200, schema: AuditVerifyResultSchema },
    handler: async ({ query, ctx }) => verifyStore(ctx.engine.store, { deep: query.deep === 'true' }),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/checkpoints',
    tag: 'audit',
    summary: 'Signed checkpoints (and export seals) in a range of seq.',
    roles: AUDITORS,
    query: CheckpointRangeQuerySchema,
    response: { status: 200, schema: CheckpointListSchema },
    handler: async ({ query, ctx }) => ({ checkpoints: await ctx.engine.store.checkpoints(query) }),
  }),
  defineRoute({
    method: 'POST',
    url: '/v1/audit/checkpoints',
    tag: 'audit',
    summary: 'Sign a checkpoint at the current head now.',
    roles: ['admin'],
    response: { status: 201, schema: SignedCheckpointSchema },
    handler: ({ ctx }) => ctx.engine.checkpoint(),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/public-keys',
    tag: 'audit',
    summary: 'The public keys that sign checkpoints, for verifying exports offline.',
    roles: AUDITORS,
    response: { status: 200, schema: PublicKeyListSchema },
    handler: async ({ ctx }) => ({ keys: await ctx.engine.store.publicKeys() }),
  }),
];
