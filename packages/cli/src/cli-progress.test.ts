import { describe, expect, it } from 'vitest';
import type { CliIo } from './cli-io.js';
import { progressReporter } from './cli-progress.js';

function io(errIsTty: boolean): CliIo & { errors: string[] } {
  const errors: string[] = [];
  return { out: () => undefined, err: (t) => errors.push(t), cwd: '/', errIsTty, errors };
}

describe('progressReporter', () => {
  it('says nothing to a pipe unless asked', () => {
    expect(progressReporter(io(false), { verb: 'read' })).toBeUndefined();
  });

  it('rewrites one line on a terminal at each step, and ends it', () => {
    const tty = io(true);
    const p = progressReporter(tty, { verb: 'replayed', every: 100 });
    for (const count of [40, 100, 150, 420]) p?.report(count);
    p?.done();
    expect(tty.errors).toEqual(['\rreplayed 100 events…', '\rreplayed 420 events…', '\n']);
  });

  it('writes whole lines with --progress off a terminal', () => {
    const pipe = io(false);
    const p = progressReporter(pipe, { force: true, verb: 'read', every: 1_000 });
    p?.report(2_500);
    p?.done();
    expect(pipe.errors).toEqual(['read 2,500 events…\n']);
  });
});
