/** Order statistics over samples (nearest-rank percentiles: p99 of 5 runs is the worst run). */

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** The nearest-rank percentile `p` (0-100) of `samples`; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function summarise(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    min: n ? (sorted[0] as number) : Number.NaN,
    median: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: n ? (sorted[n - 1] as number) : Number.NaN,
    mean: n ? sorted.reduce((sum, value) => sum + value, 0) / n : Number.NaN,
  };
}

/** Rounds for display: 3 significant digits, no exponent for the ranges benchmarks see. */
export function round(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toFixed(digits);
}
