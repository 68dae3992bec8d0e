/**
 * The contract between `npm run bench` (bench/run.ts) and the benchmark files. Each
 * `packages/<pkg>/bench/*.bench.ts` (or `bench/*.bench.ts`) exports `benchmarks: Benchmark[]`.
 */
export interface BenchmarkOptions {
  /** A short run (the whole `--quick` suite must stay under a minute on a 2-core machine). */
  readonly quick: boolean;
  /** Progress for humans; goes to stderr. */
  readonly log: (msg: string) => void;
}

export interface Benchmark {
  /** Prefix of every figure it reports, e.g. `policy` → `policy.decision_p50_ns`. */
  readonly name: string;
  /**
   * Runs and returns flat figures. The key suffix gives the unit: `_ns`, `_ms`, `_ratio` or a name containing
   * `ratio`/`speedup`/`_vs_` (a ratio); anything else is a count.
   */
  run(opts: BenchmarkOptions): Promise<Record<string, number>>;
}
