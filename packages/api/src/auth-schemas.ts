import { z } from 'zod';
import { API_ROLES } from './wire-vocabulary.js';

/** Schemas of the dashboard sign-in routes (/v1/auth/session). */

export const SignInRequestSchema = z.strictObject({
  key: z.string().min(1).max(200).meta({ description: 'A human API key (wdn_…).' }),
});

/** Who is signed in, and the CSRF token of a cookie sign-in. */
export const SignedInSchema = z
  .object({
    principal: z.object({
      id: z.string(),
      kind: z.string(),
      role: z.enum(API_ROLES),
      keyId: z.string(),
      expiresAt: z.string().nullable(),
    }),
    csrfToken: z.string().nullable().meta({
      description:
        'Send it as x-warden-csrf with every request that changes something (cookie sign-in only).',
    }),
    expiresAt: z.string().nullable().meta({ description: 'When the sign-in ends.' }),
  })
  .meta({ id: 'DashboardSession' });
