/**
 * The load generator of the HTTP benchmark, in a process of its own: reads one load phase per stdin line
 * (`{"url","body","headers","connections","durationS"}`), runs autocannon against it and prints one JSON line
 * per phase: the counts autocannon reports and the latency of every 2xx response in ms (full precision,
 * where autocannon's own histogram rounds to whole milliseconds). Exits when stdin closes.
 */
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

export interface LoadPhase {
  readonly url: string;
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly connections: number;
  readonly durationS: number;
}

export interface LoadResult {
  /** Seconds autocannon ran. */
  readonly durationS: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodes: Record<string, number>;
  /** Response times of the 2xx responses, ms. */
  readonly latenciesMs: number[];
}

interface AutocannonResult {
  readonly duration: number;
  readonly '2xx': number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats: Record<string, { count: number }>;
}

interface AutocannonInstance {
  on(
    event: 'response',
    fn: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void,
  ): void;
}

type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function run(phase: LoadPhase): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: phase.url,
        method: 'POST',
        body: phase.body,
        headers: phase.headers,
        connections: phase.connections,
        duration: phase.durationS,
        pipelining: 1,
        renderProgressBar: false,
        renderResultsTable: false,
        renderLatencyTable: false,
      },
      (err, r) => {
        if (err) return reject(err);
        const statusCodes: Record<string, number> = {};
        for (const [code, { count }] of Object.entries(r.statusCodeStats)) statusCodes[code] = count;
        resolve({
          durationS: r.duration,
          ok: r['2xx'],
          non2xx: r.non2xx,
          errors: r.errors,
          timeouts: r.timeouts,
          statusCodes,
          latenciesMs,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode < 300) latenciesMs.push(Math.round(ms * 1000) / 1000);
    });
  });
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  try {
    const result = await run(JSON.parse(line) as LoadPhase);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as Error).stack ?? String(err) })}\n`);
  }
}
// No process.exit(): it could cut off a result still being written to the pipe.
