import { z } from 'zod';
import { API_ROLES } from './wire-vocabulary.js';

/** POST /v1/people/:id/revoke: why the person is cut off (recorded). */
export const RevokePersonRequestSchema = z
  .strictObject({ reason: z.string().max(2_000).optional() })
  .optional();

/** A person signed in through SSO, as the people store holds them. */
export const PersonViewSchema = z
  .object({
    issuer: z.string(),
    subject: z.string(),
    /** Their Warden principal id (the personClaim value). */
    name: z.string(),
    email: z.string().nullable(),
    /** null: no Warden role (their IdP groups map to none, or an admin revoked them). */
    role: z.enum(API_ROLES).nullable(),
    groups: z.array(z.string()),
    approverGroups: z.array(z.string()),
    lastSignedInAt: z.string(),
  })
  .meta({ id: 'Person' });

export type PersonView = z.infer<typeof PersonViewSchema>;
