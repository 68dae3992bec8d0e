import { z } from 'zod';

/** Schemas of the grant routes (/v1/grants/…). */

export const GrantViewSchema = z
  .object({
    id: z.string(),
    agent: z.string(),
    tool: z.string(),
    when: z.string().nullable(),
    session: z.string().nullable(),
    expiresAt: z.string(),
    reason: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
    revokedBy: z.string().nullable(),
    active: z.boolean().meta({ description: 'Neither revoked nor expired now.' }),
  })
  .meta({ id: 'Grant' });

export const GrantListQuerySchema = z.strictObject({
  agent: z.string().min(1).max(200).optional(),
  all: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true'),
  limit: z.coerce.number().int().min(1).max(1_000).default(200),
});

export const GrantListSchema = z.object({ grants: z.array(GrantViewSchema) });

export const GrantRequestSchema = z.strictObject({
  agent: z.string().min(1).max(200),
  tool: z.string().min(1).max(500).meta({ description: 'A tool-name glob.' }),
  when: z.string().min(1).max(4_096).optional().meta({ description: 'A CEL condition over the call.' }),
  session: z.string().min(1).max(200).optional(),
  ttl: z
    .string()
    .min(1)
    .max(20)
    .optional()
    .meta({ description: 'How long, e.g. 1h; default 8h with a session.' }),
  reason: z.string().trim().min(1, 'say why the agent needs this').max(2_000),
});

export const RevokeGrantRequestSchema = z.strictObject({ reason: z.string().trim().max(2_000).optional() });
