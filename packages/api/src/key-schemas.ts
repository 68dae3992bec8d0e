import { z } from 'zod';
import { API_KEY_PERMISSIONS, API_ROLES, PRINCIPAL_KINDS } from './wire-vocabulary.js';

/** Schemas of the API key routes (/v1/keys/…). */

export const ApiKeySchema = z
  .object({
    id: z.string(),
    prefix: z.string(),
    principalKind: z.enum(PRINCIPAL_KINDS),
    principal: z.string(),
    role: z.enum(API_ROLES),
    label: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    revokedBy: z.string().nullable(),
    permissions: z.array(z.enum(API_KEY_PERMISSIONS)).optional(),
  })
  .meta({ id: 'ApiKey' });

export const CreateKeySchema = z
  .strictObject({
    principalKind: z.enum(PRINCIPAL_KINDS),
    principal: z.string().min(1).max(200),
    role: z.enum(API_ROLES),
    label: z.string().max(200).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    ttl: z
      .string()
      .max(20)
      .optional()
      .meta({ description: 'Instead of expiresAt: a duration such as 30d or 12h.' }),
    permissions: z.array(z.enum(API_KEY_PERMISSIONS)).max(10).optional().meta({
      description:
        'Beyond the role. initiator (service keys only): may start tasks (POST /v1/tasks) for a person it vouches for.',
    }),
  })
  .meta({ id: 'CreateKey' });

/** A new key with its secret: in this response and nowhere else, ever. */
export const CreatedKeySchema = z.object({ key: ApiKeySchema, secret: z.string() });

export const ApiKeyListSchema = z.object({ keys: z.array(ApiKeySchema) });

export const RevokeKeyRequestSchema = z.strictObject({ reason: z.string().max(2_000).optional() }).optional();
