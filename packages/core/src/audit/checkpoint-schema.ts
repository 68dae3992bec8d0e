import { z } from 'zod';

/**
 * The checkpoint format. Kept apart from the signing code so that verification threads, which only
 * need the types, do not load Zod. A `purge` checkpoint is signed only in a retention purge's commit, over
 * its `retention.purged` record: the database lets events be deleted only under one (schema 6).
 */
export const CHECKPOINT_KINDS = ['periodic', 'on-demand', 'purge', 'seal'] as const;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** The signed statement. A `seal` vouches for an export: it also names where the export starts. */
export const CheckpointBodySchema = z.strictObject({
  kind: z.enum(CHECKPOINT_KINDS),
  seq: z.number().int().nonnegative(),
  hash: hex64,
  ts: z.iso.datetime(),
  /** Digest of the previous checkpoint in the chain of checkpoints; null for the first and for seals. */
  prev: hex64.nullable(),
  keyId: z.string().min(1),
  /** Seals only: the first exported sequence number and the hash before it. */
  fromSeq: z.number().int().positive().optional(),
  fromPrev: hex64.optional(),
});

/** A checkpoint with its base64 Ed25519 signature over the canonical JSON of the body. */
export const SignedCheckpointSchema = CheckpointBodySchema.extend({ signature: z.string().min(1) });

export type CheckpointBody = z.infer<typeof CheckpointBodySchema>;
export type SignedCheckpoint = z.infer<typeof SignedCheckpointSchema>;
