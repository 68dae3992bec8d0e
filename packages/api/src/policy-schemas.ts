import { z } from 'zod';
import { EFFECTS } from './wire-vocabulary.js';

/** Schemas of the policy routes (/v1/policy/…), the replay report among them. */

const SourceSchema = z.strictObject({
  path: z.string().min(1).max(500).meta({ description: 'A file name, shown in diagnostics.' }),
  text: z.string().max(1024 * 1024),
});

/** A policy as sent: one YAML text, or several files (a folder policy). */
export const PolicyInputSchema = z
  .union([
    z.strictObject({ text: z.string().max(1024 * 1024) }),
    z.strictObject({ sources: z.array(SourceSchema).min(1).max(200) }),
  ])
  .meta({ id: 'PolicyInput' });

/** A stored policy version with its source files. */
export const PolicyVersionSchema = z
  .object({
    version: z.string(),
    name: z.string(),
    mode: z.enum(['enforce', 'monitor']),
    sources: z.array(z.object({ path: z.string(), text: z.string() })),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .meta({ id: 'PolicyVersion' });

/** A problem or warning found compiling or linting a policy, with its location. */
export const DiagnosticSchema = z.object({
  file: z.string(),
  line: z.number().int(),
  col: z.number().int(),
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  message: z.string(),
});

/** The answer to replacing the policy. */
export const PolicyChangeSchema = z.object({
  oldVersion: z.string(),
  newVersion: z.string(),
  warnings: z.array(DiagnosticSchema),
});

/** The answer to validating a policy without applying it. */
export const PolicyValidationSchema = z.object({
  valid: z.boolean(),
  version: z.string().optional(),
  diagnostics: z.array(DiagnosticSchema),
});

/** A replay: the candidate policy and which recorded calls to decide again under it. */
export const ReplayRequestSchema = z.strictObject({
  policy: PolicyInputSchema,
  since: z
    .string()
    .max(100)
    .optional()
    .meta({ description: 'Calls at or after: an age (7d, 12h), an ISO time or a date. Default 7d.' }),
  until: z
    .string()
    .max(100)
    .optional()
    .meta({ description: 'Calls before: an age, an ISO time or a date. Default now.' }),
  agent: z.string().min(1).max(200).optional().meta({ description: "Only this agent's calls." }),
  limit: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(100_000)
    .meta({ description: 'Recorded calls read at most; the report says complete: false when more remain.' }),
});

export const PolicyVersionsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

export const PolicyVersionListSchema = z.object({ versions: z.array(PolicyVersionSchema) });

/*
 * The report of a policy replay: the recorded calls of the audit trail decided again under another
 * policy. One schema for the CLI's JSON, the HTTP answer and its OpenAPI description.
 */

const count = z.number().int().nonnegative();
const effect = z.enum(EFFECTS);

/** A policy decision as replay compares it: the policy's effect and the deciding rule (null: the default). */
export const ReplayDecisionSchema = z.strictObject({
  effect,
  ruleId: z.string().nullable(),
});

/** One changed call kept as an example of its group. */
export const ReplaySampleSchema = z.strictObject({
  callId: z.string(),
  ts: z.string(),
  agent: z.string(),
  tool: z.string(),
  /** The new decision reads arguments or a target that were stored redacted or capped. */
  uncertain: z.boolean(),
  /** A grant had lifted the default block: the call ran, yet it is compared as the policy's block. */
  viaGrant: z.boolean(),
});

/** The calls whose decision moves from one (effect, rule) to another, counted, with a few examples. */
export const ReplayChangeSchema = z.strictObject({
  from: ReplayDecisionSchema,
  to: ReplayDecisionSchema,
  count,
  /** How many of them are uncertain (see ReplaySample.uncertain). */
  uncertain: count,
  /** The first calls of the group in trail order, at most `samplesPerGroup`. */
  samples: z.array(ReplaySampleSchema),
});

export const ReplayReportSchema = z
  .strictObject({
    /** The policy the calls were replayed under. */
    policy: z.strictObject({ name: z.string(), version: z.string(), mode: z.enum(['enforce', 'monitor']) }),
    /** The recorded calls read: decided at or after `from` and before `to`, of `agent` when set. */
    window: z.strictObject({ from: z.string(), to: z.string(), agent: z.string().nullable() }),
    totals: z.strictObject({
      /** `call.decided` events read. */
      recorded: count,
      /** Of those, the ones whose policy decision was recorded and compared. */
      replayed: count,
      unchanged: count,
      /** Replayed calls whose effect or deciding rule would change. */
      changed: count,
      /** Of the changed, those whose effect changes (the others change rule only). */
      effectChanged: count,
      /** Replayed calls whose new decision reads redacted or capped values (see `notes`). */
      uncertain: count,
      /** Replayed calls a grant had let through, compared as the policy's default block. */
      viaGrant: count,
      /** Calls the engine decided without (or over) the policy: not compared, counted in `notCompared`. */
      notCompared: count,
    }),
    /** Changed calls by effect transition (allow→block, …; allow→allow when only the rule changes). */
    transitions: z.array(z.strictObject({ from: effect, to: effect, count })),
    /** Calls not compared, by the engine's code (SESSION_PAUSED, BUDGET_EXCEEDED, …). */
    notCompared: z.array(z.strictObject({ code: z.string(), count })),
    /** The changed calls, grouped; most calls first. */
    changes: z.array(ReplayChangeSchema),
    samplesPerGroup: count,
    /** False when the read stopped at the limit before the end of the window. */
    complete: z.boolean(),
    /** What was compared and how, in words, for whoever reads the report. */
    notes: z.array(z.string()),
  })
  .meta({ id: 'PolicyReplayReport' });
