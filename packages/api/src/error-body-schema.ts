import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

// Apart from ERROR_CODES so that what needs only the codes (every WardenError, the hook's bundle)
// does not construct Zod schemas or load Zod at all.

/** The body of every error response: a stable code, a message for people and details for programs. */
export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .meta({ id: 'Error' });
