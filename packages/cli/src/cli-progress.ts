import type { CliIo } from './cli-io.js';

const EVERY = 100_000;

/** Reports how far a long command has got, every `every` events. */
export interface ProgressReporter {
  report(count: number): void;
  done(): void;
}

/**
 * Progress on stderr: on a terminal one line rewritten in place, elsewhere (with --progress) one line per
 * step; nothing otherwise, so scripts and pipes see only the result.
 */
export function progressReporter(
  io: CliIo,
  o: { readonly force?: boolean | undefined; readonly verb: string; readonly every?: number },
): ProgressReporter | undefined {
  const tty = io.errIsTty === true;
  if (!o.force && !tty) return undefined;
  const every = o.every ?? EVERY;
  let next = every;
  let shown = false;
  return {
    report(count: number) {
      if (count < next) return;
      next = (Math.floor(count / every) + 1) * every;
      shown = true;
      const text = `${o.verb} ${count.toLocaleString('en-US')} events…`;
      io.err(tty ? `\r${text}` : `${text}\n`);
    },
    done() {
      if (tty && shown) io.err('\n');
    },
  };
}
