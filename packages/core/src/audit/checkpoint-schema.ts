/**
 * The checkpoint format. Checkpoints are served over the API (/v1/audit/checkpoints), so the schema is part
 * of the contract in @warden/api; kept apart from the signing code so that verification threads, which
 * only need the types, do not load Zod. A `purge` checkpoint is signed only in a retention purge's commit,
 * over its `retention.purged` record: the database lets events be deleted only under one (schema 6).
 */
export {
  CHECKPOINT_KINDS,
  type CheckpointBody,
  CheckpointBodySchema,
  type SignedCheckpoint,
  SignedCheckpointSchema,
} from '@warden/api';
