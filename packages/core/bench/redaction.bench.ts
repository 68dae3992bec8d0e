/**
 * Audit redaction latency: `redactValue` runs on the arguments and the result of every tool call, so its
 * cost on typical small arguments is what every call pays.
 *
 * Each call is timed with `process.hrtime.bigint()` around it; the figures are medians minus the median
 * cost of an empty timer pair, so they approach the call itself.
 */
import type { Benchmark } from '../../../bench/benchmark.js';
import { type RedactedValue, redactValue } from '../src/audit/redaction.js';

const hrtime = process.hrtime.bigint;

/** A typical tool call: a handful of short strings and numbers, no secrets. */
const SMALL_ARGS = {
  path: '/srv/app/src/index.ts',
  query: 'select id, name from users where id = ?',
  limit: 50,
  offset: 0,
  recursive: true,
  encoding: 'utf-8',
};

/** The same shape with a bearer token in a command line and a card number. */
const SECRET_ARGS = {
  command: "curl -H 'Authorization: Bearer eyJ0eXAi.Zm9vYmFy-0x7Q' https://api.example.com/v1/charges",
  card: '4111 1111 1111 1111',
  amount: 1999,
  currency: 'usd',
  retries: 3,
  dryRun: false,
};

/** Keeps results observable so the optimizer cannot drop the calls. */
let sink = 0;
function consume(r: RedactedValue): void {
  sink += r.redactions.length + r.flags.length;
}

function median(samples: Float64Array): number {
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
}

/** Median cost of an empty `hrtime.bigint()` pair: what every timed sample carries on top of the call. */
function timerOverhead(n: number): number {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = hrtime();
    const t1 = hrtime();
    samples[i] = Number(t1 - t0);
  }
  return median(samples);
}

function timeCalls(args: object, n: number): Float64Array {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = hrtime();
    const r = redactValue(args);
    const t1 = hrtime();
    samples[i] = Number(t1 - t0);
    consume(r);
  }
  return samples;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'redaction',
    async run({ quick, log }) {
      const n = quick ? 200_000 : 1_000_000;
      const secrets = redactValue(SECRET_ARGS);
      if (redactValue(SMALL_ARGS).redactions.length !== 0 || secrets.redactions.length !== 2) {
        throw new Error(`unexpected redactions: ${JSON.stringify(secrets.redactions)}`);
      }
      for (let i = 0; i < n / 4; i++) {
        consume(redactValue(SMALL_ARGS));
        consume(redactValue(SECRET_ARGS));
      }
      const overhead = timerOverhead(n);
      const small = median(timeCalls(SMALL_ARGS, n));
      const secret = median(timeCalls(SECRET_ARGS, n));

      // Throughput cross-check without per-call timers.
      const b0 = hrtime();
      for (let i = 0; i < n; i++) consume(redactValue(SMALL_ARGS));
      const batchMean = Number(hrtime() - b0) / n;
      log(
        `small args: median ${small} ns (batch mean ${batchMean.toFixed(0)} ns), with secrets: median ${secret} ns; ` +
          `timer overhead ${overhead} ns over ${n} calls each`,
      );
      if (sink === -1) log('(unreachable: keeps the results alive)');
      return {
        small_args_ns: Math.max(0, small - overhead),
        secret_args_ns: Math.max(0, secret - overhead),
        small_args_batch_mean_ns: Math.round(batchMean),
        timer_overhead_ns: overhead,
      };
    },
  },
];
