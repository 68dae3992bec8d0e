import { z } from 'zod';
import { EFFECTS } from './wire-vocabulary.js';

/** Schemas of the system routes (health, readiness) and of the live event stream's query. */

export const HealthSchema = z.object({ status: z.literal('ok') });

/** Readiness: each check names what is not ready (503) or says ok. */
export const ReadinessSchema = z.object({
  status: z.enum(['ready', 'not ready']),
  checks: z.record(z.string(), z.string()),
});

/** What a live event stream (/v1/events) may be narrowed to. */
export const EventStreamQuerySchema = z.strictObject({
  type: z
    .string()
    .max(2_000)
    .optional()
    .meta({ description: 'Comma-separated event types, e.g. call.decided,session.paused.' }),
  agent: z.string().min(1).max(200).optional(),
  session: z.string().min(1).max(200).optional(),
  tool: z.string().min(1).max(500).optional(),
  decision: z.enum(EFFECTS).optional(),
  lastEventId: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'Resume after this seq (the Last-Event-ID header does the same).' }),
});
