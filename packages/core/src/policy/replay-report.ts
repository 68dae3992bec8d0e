import {
  ReplayChangeSchema,
  ReplayDecisionSchema,
  ReplayReportSchema,
  ReplaySampleSchema,
} from '@warden/api';
import type { z } from 'zod';

/**
 * The report of a policy replay: the recorded calls of the audit trail decided again under another
 * policy. One schema for the CLI's JSON, the HTTP answer and its OpenAPI description.
 */

/** The report is also the answer of POST /v1/policy/replay: defined in @warden/api. */
export { ReplayChangeSchema, ReplayDecisionSchema, ReplayReportSchema, ReplaySampleSchema };

/** A policy decision as replay compares it. */
export type ReplayDecision = z.infer<typeof ReplayDecisionSchema>;
/** One changed call kept as an example. */
export type ReplaySample = z.infer<typeof ReplaySampleSchema>;
/** A group of changed calls. */
export type ReplayChange = z.infer<typeof ReplayChangeSchema>;
/** The whole replay report. */
export type ReplayReport = z.infer<typeof ReplayReportSchema>;
