/**
 * Audit redaction latency: `redactValue` runs on the arguments and the result of every tool call, so its
 * cost on typical small arguments is what every call pays.
 *
 * Each call is timed with `process.hrtime.bigint()` around it; the figures are medians minus the median
 * cost of an empty timer pair, so they approach the call itself.
 */
import type { Benchmark } from '../../../bench/benchmark.js';
import type { AuditEvent } from '../src/audit/audit-event.js';
import { redactEvent } from '../src/audit/event-redaction.js';
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

/**
 * A `call.decided` event as the engine builds it (arguments already redacted): the commit path redacts
 * the rest of it before it is stored, so this is what the hot path pays on top of the arguments.
 */
function decidedEvent(): AuditEvent {
  return {
    id: '01a25110-2691-7000-b124-7f5c313bbce8',
    ts: '2026-12-07T15:12:22.673Z',
    type: 'call.decided',
    actor: { kind: 'agent', id: 'support-bot' },
    instance: 'web-1:4242',
    agent: 'support-bot',
    session: 'sess-2026-12-07-42',
    callId: '01a25110-2691-7000-b124-7f5c313bbce8',
    tool: 'fs.read',
    labels: { team: 'support', ticket: 'T-1234' },
    args: redactValue(SMALL_ARGS).value,
    argsHmac: 'f41f2e33b62ec07859b66bae4e416544cadd4faae9f063848db08d1d3ed0ce13',
    decision: {
      effect: 'allow',
      policyEffect: 'allow',
      mode: 'enforce',
      ruleId: 'read-files',
      matchedRuleIds: ['read-files'],
      reasons: ['Support may read files.'],
      reservationId: 'res_01a25110-2691-7000-b124-7f5c313bbce8',
    },
    policyVersion: '492142a3770e2fb906bd50be060b72a3e3971741e8355fcc8adfda81f460bf36',
  };
}

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

      const event = decidedEvent();
      if (redactEvent(event) !== event) throw new Error('the benchmark event should need no redaction');
      const eventSamples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = hrtime();
        const e = redactEvent(event);
        const t1 = hrtime();
        eventSamples[i] = Number(t1 - t0);
        sink += e === event ? 0 : 1;
      }
      const eventNs = median(eventSamples);

      // Throughput cross-check without per-call timers.
      const b0 = hrtime();
      for (let i = 0; i < n; i++) consume(redactValue(SMALL_ARGS));
      const batchMean = Number(hrtime() - b0) / n;
      log(
        `small args: median ${small} ns (batch mean ${batchMean.toFixed(0)} ns), with secrets: median ${secret} ns; ` +
          `timer overhead ${overhead} ns over ${n} calls each; whole call.decided event on commit: ${eventNs} ns`,
      );
      // Hostile text: markers whose rejected values run on into the next marker (linear since the values
      // are bounded), 160 KB through the commit path's redactEvent.
      const hostile = { ...event, labels: { team: 'pwd=sk-'.repeat(Math.ceil(160_000 / 7)) } };
      const h0 = hrtime();
      sink += redactEvent(hostile) === hostile ? 0 : 1;
      const hostileMs = Number(hrtime() - h0) / 1e6;
      log(`160 KB hostile label through redactEvent: ${hostileMs.toFixed(1)} ms`);
      if (sink === -1) log('(unreachable: keeps the results alive)');
      return {
        small_args_ns: Math.max(0, small - overhead),
        secret_args_ns: Math.max(0, secret - overhead),
        decided_event_commit_ns: Math.max(0, eventNs - overhead),
        small_args_batch_mean_ns: Math.round(batchMean),
        timer_overhead_ns: overhead,
        hostile_160kb_label_ms: Math.round(hostileMs * 10) / 10,
      };
    },
  },
];
