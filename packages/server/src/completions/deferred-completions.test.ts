import { describe, expect, it } from 'vitest';
import { DeferredCompletions } from './deferred-completions.js';

describe('DeferredCompletions', () => {
  it('holds a completion until the next decision, then starts it in that same turn', async () => {
    const held = new DeferredCompletions(60_000);
    const started: string[] = [];
    const done = held.defer(async () => {
      started.push('a');
      return 'recorded';
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([]);
    expect(held.held).toBe(1);
    held.beforeDecision();
    // Synchronously: a commit submitted by the decision in this turn finds the completion's unit queued.
    expect(started).toEqual(['a']);
    expect(held.held).toBe(0);
    await expect(done).resolves.toBe('recorded');
  });

  it('starts a held completion on its own when no decision comes', async () => {
    const held = new DeferredCompletions(1);
    await expect(held.defer(async () => 'alone')).resolves.toBe('alone');
  });

  it('passes a failure on to the caller, which retries it', async () => {
    const held = new DeferredCompletions(60_000);
    const failed = held.defer(async () => {
      throw new Error('the database is busy');
    });
    held.beforeDecision();
    await expect(failed).rejects.toThrow('the database is busy');
  });

  it('on release (shutdown) starts every held completion and holds no more', async () => {
    const held = new DeferredCompletions(60_000);
    const order: string[] = [];
    const first = held.defer(async () => order.push('held'));
    held.release();
    expect(order).toEqual(['held']);
    const later = held.defer(async () => order.push('after release'));
    expect(order).toEqual(['held', 'after release']);
    await Promise.all([first, later]);
  });
});
