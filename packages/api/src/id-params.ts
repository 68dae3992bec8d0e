import { z } from 'zod';

/**
 * The `{id}` of a session, call or key in a path. Control characters are refused here, before any
 * database sees them (PostgreSQL cannot compare text holding U+0000).
 */
export const IdParamsSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(200)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters'),
});

/** A name in a query string: no control characters reach the database (see IdParamsSchema). */
export const QueryNameSchema = IdParamsSchema.shape.id;
