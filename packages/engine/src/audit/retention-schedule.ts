import { isWardenError, WardenError } from '@warden/core';
import type { Engine } from '../engine/engine.js';
import { purgeExpired } from './retention.js';

/** How the engine keeps the hot store to its retention period. */
export interface RetentionOptions {
  /** Events older than this many days are purged (up to a signed anchor checkpoint). */
  readonly days: number;
  /** How often to look; default hourly. */
  readonly everyMs?: number;
}

/**
 * Runs `purgeExpired` on a timer that never keeps the process alive. A legal hold is not an error (it
 * is the point of the hold); anything else goes to `onError`. Several instances may run it at once:
 * the purge itself runs under the chain lock, so the second one finds nothing left to do.
 */
export function scheduleRetention(
  engine: Engine,
  options: RetentionOptions,
  onError: (err: WardenError) => void,
): { stop(): void } {
  if (!Number.isFinite(options.days) || options.days < 1) {
    throw new WardenError('USAGE', `retention must be at least 1 day, got ${options.days}`);
  }
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await purgeExpired(engine, { retentionDays: options.days });
    } catch (err) {
      if (!isWardenError(err, 'LEGAL_HOLD_ACTIVE')) {
        onError(
          isWardenError(err) ? err : new WardenError('INTERNAL', `retention purge failed: ${String(err)}`),
        );
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), options.everyMs ?? 3_600_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
