/**
 * A log-bucketed latency histogram (about 1% resolution from 1 µs to 100 s), small enough to send
 * between processes and merge. Values are milliseconds.
 */
const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / LOG_GROWTH) + 2;

export interface HistogramJSON {
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  add(ms: number): void {
    const v = ms > MIN_MS ? ms : MIN_MS;
    const i = Math.min(BUCKETS - 1, Math.ceil(Math.log(v / MIN_MS) / LOG_GROWTH));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: Histogram): this {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
    return this;
  }

  /** The value at or below which a fraction p (0..1) of samples fall (bucket upper bound, capped at max). */
  percentile(p: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, MIN_MS * GROWTH ** i);
    }
    return this.max;
  }

  mean(): number | undefined {
    return this.count ? this.sum / this.count : undefined;
  }

  toJSON(): HistogramJSON {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) buckets.push([i, this.counts[i] as number]);
    return { buckets, count: this.count, sum: this.sum, max: this.max };
  }

  static fromJSON(j: HistogramJSON): Histogram {
    const h = new Histogram();
    for (const [i, c] of j.buckets) h.counts[i] = c;
    h.count = j.count;
    h.sum = j.sum;
    h.max = j.max;
    return h;
  }
}

export interface LatencySummary {
  count: number;
  p50: number | undefined;
  p99: number | undefined;
  p999: number | undefined;
  max: number | undefined;
  mean: number | undefined;
}

export function summarize(h: Histogram): LatencySummary {
  return {
    count: h.count,
    p50: h.percentile(0.5),
    p99: h.percentile(0.99),
    p999: h.percentile(0.999),
    max: h.count ? h.max : undefined,
    mean: h.mean(),
  };
}
