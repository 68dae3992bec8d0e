import type { RollupDeriver } from './rollup.js';
import { sessionDeriver } from './session-rollup.js';
import { soc2Deriver } from './soc2-rollup.js';
import { usageDeriver } from './usage-rollup.js';

/**
 * Every rollup the store maintains, one deriver a line. The store runs each over every event it chains
 * and adds the deltas in the same transaction. A deriver added later needs a migration that backfills
 * its cells from the trail (see backfillRollups), or its sums start at the version that added it.
 */
export const ROLLUP_DERIVERS: readonly RollupDeriver[] = [usageDeriver, sessionDeriver, soc2Deriver];
