import type { RollupDeriver } from './rollup.js';
import { sessionDeriver } from './session-rollup.js';
import { soc2Deriver } from './soc2-rollup.js';
import { usageDeriver } from './usage-rollup.js';

/**
 * Every rollup the store maintains. The store runs each deriver over every event it chains and adds the
 * deltas in the same transaction. A deriver added after migration 11 needs a migration that backfills
 * its cells from the trail (backfillSqliteRollups / backfillPostgresRollups with `derivers: [it]`), or
 * its sums start at the version that added it.
 */
export const ROLLUP_DERIVERS: readonly RollupDeriver[] = [usageDeriver, sessionDeriver, soc2Deriver];
