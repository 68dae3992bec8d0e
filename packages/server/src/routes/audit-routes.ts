import { PassThrough } from 'node:stream';
import { EXPORT_FORMATS, SignedCheckpointSchema, WardenError } from '@warden/core';
import { AuditQuerySchema, exportAudit, parseAuditQuery, verifyStore } from '@warden/engine';
import { z } from 'zod';
import { defineRoute } from '../http/route-spec.js';

export const AuditRecordSchema = z
  .object({
    seq: z.number().int(),
    prev: z.string(),
    hash: z.string(),
    event: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditRecord' });

/** The audit query as a query string: the same filters, with the page size coerced from text. */
const AuditQueryParams = AuditQuerySchema.extend({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const READERS = ['approver', 'admin', 'auditor'] as const;
const AUDITORS = ['admin', 'auditor'] as const;

const MEDIA: Record<(typeof EXPORT_FORMATS)[number], string> = {
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
    query: AuditQueryParams,
    response: {
      status: 200,
      schema: z.object({ records: z.array(AuditRecordSchema), nextCursor: z.string().nullable() }),
    },
    errors: ['QUERY_INVALID'],
    handler: ({ query, ctx }) => ctx.engine.store.queryAudit(parseAuditQuery(query)),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/events/:seq',
    tag: 'audit',
    summary: 'One audit event by its sequence number.',
    roles: READERS,
    params: z.strictObject({ seq: z.coerce.number().int().min(1) }),
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
    query: z.strictObject({
      format: z.enum(EXPORT_FORMATS).default('jsonl'),
      from: z.iso.datetime({ offset: true }).optional(),
      to: z.iso.datetime({ offset: true }).optional(),
    }),
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
    query: z.strictObject({ deep: z.enum(['true', 'false']).optional() }),
    response: {
      status: 200,
      schema: z.object({ ok: z.boolean(), checked: z.number(), problem: z.unknown().optional() }).loose(),
    },
    handler: async ({ query, ctx }) => verifyStore(ctx.engine.store, { deep: query.deep === 'true' }),
  }),
  defineRoute({
    method: 'GET',
    url: '/v1/audit/checkpoints',
    tag: 'audit',
    summary: 'Signed checkpoints (and export seals) in a range of seq.',
    roles: AUDITORS,
    query: z.strictObject({
      fromSeq: z.coerce.number().int().min(0).optional(),
      toSeq: z.coerce.number().int().min(0).optional(),
    }),
    response: { status: 200, schema: z.object({ checkpoints: z.array(SignedCheckpointSchema) }) },
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
    response: {
      status: 200,
      schema: z.object({ keys: z.array(z.object({ keyId: z.string(), pem: z.string() })) }),
    },
    handler: async ({ ctx }) => ({ keys: await ctx.engine.store.publicKeys() }),
  }),
];
