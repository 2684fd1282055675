// A latency track with microsecond resolution: HDR histograms (3 significant digits) cut into intervals, plus
// the exact sum, max and Prometheus-style cumulative buckets over the whole stage, so a summary, a live snapshot,
// a per-second timeline and a remote-write series all come from one recording. autocannon's own histograms
// record whole milliseconds (sub-ms values collapse to 0), which is why the executors record into this instead.
//
// The hot path (`record`) writes into the current interval's HDR histogram only; `takeInterval()` hands that
// histogram out (the interval owns it from then on), adds it into the stage's total and starts a fresh one. So
// the stage's percentiles are exactly those of the sum of its intervals.
import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from '../types';
import { MAX_TRACKABLE_US, newHistogram, type Histogram } from './interval';

export { MAX_TRACKABLE_US };

/** Bucket upper bounds in seconds (Prometheus http duration defaults, widened at both ends). */
export const BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const BUCKETS_US = Float64Array.from(BUCKETS_SECONDS, (s) => s * 1e6);
const N_BUCKETS = BUCKETS_US.length;

export class LatencyHistogram {
  /** the current interval's values */
  private current: Histogram = newHistogram();
  /** every interval taken so far */
  private readonly total: Histogram = newHistogram();
  /** per-bucket (not cumulative) counts; the last slot is +Inf */
  private readonly buckets = new Float64Array(N_BUCKETS + 1);
  private sumUs = 0;
  private maxUs = 0;
  count = 0;
  clamped = 0;

  /** Records one value in microseconds (fractions kept in sum and max, rounded for the HDR). */
  record(us: number): void {
    if (!(us >= 0)) us = 0; // NaN or negative (clock oddities) count as 0, never throw on the hot path
    if (us > MAX_TRACKABLE_US) { us = MAX_TRACKABLE_US; this.clamped++; }
    this.current.recordValue(us < 1 ? 1 : Math.round(us));
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    let i = 0;
    while (i < N_BUCKETS && us > BUCKETS_US[i]) i++;
    this.buckets[i]++;
  }

  /** The values recorded since the last call, as a histogram the caller now owns; they join the stage total. */
  takeInterval(): Histogram {
    const h = this.current;
    this.total.add(h);
    this.current = newHistogram();
    return h;
  }

  /** Stage totals in ms with microsecond resolution, over the intervals taken so far; all zeros when empty. */
  summary(): LatencySummary {
    const n = this.total.totalCount;
    if (n === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    const max = this.takenMaxUs();
    const at = (p: number): number => Math.min(this.total.getValueAtPercentile(p), max) / 1000;
    return {
      p50: round3(at(50)),
      p90: round3(at(90)),
      p99: round3(at(99)),
      p999: round3(at(99.9)),
      max: round3(max / 1000),
      // exact while every value was taken (the usual case: a summary follows the last interval)
      mean: round3((n === this.count ? this.sumUs / n : this.total.mean) / 1000),
    };
  }

  /** Any percentile in ms (0..100) over the intervals taken so far. */
  percentileMs(p: number): number {
    return this.total.totalCount === 0 ? 0 : round3(Math.min(this.total.getValueAtPercentile(p), this.takenMaxUs()) / 1000);
  }

  /** Cumulative buckets over every value recorded, `le` in seconds; the last is +Inf. */
  cumulativeBuckets(): { le: number; count: number }[] {
    const out: { le: number; count: number }[] = [];
    let acc = 0;
    for (let i = 0; i < N_BUCKETS; i++) {
      acc += this.buckets[i];
      out.push({ le: BUCKETS_SECONDS[i], count: acc });
    }
    acc += this.buckets[N_BUCKETS];
    out.push({ le: Number.POSITIVE_INFINITY, count: acc });
    return out;
  }

  /** The stage total (the intervals taken so far) as hdr-histogram-js `encodeIntoCompressedBase64`. */
  encode(): string {
    return hdr.encodeIntoCompressedBase64(this.total);
  }

  get sumSeconds(): number {
    return this.sumUs / 1e6;
  }

  destroy(): void {
    this.current.destroy();
    this.total.destroy();
  }

  /** The exact max when every value was taken, else the HDR's (values still in `current` are not in `total`). */
  private takenMaxUs(): number {
    return this.total.totalCount === this.count ? this.maxUs : this.total.maxValue;
  }
}

/** ms rounded to the microsecond (3 decimals): keeps the resolution, drops float noise. */
export function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A summary of any HDR histogram of microseconds (an interval's, a merged one). */
export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const max = h.maxValue;
  const at = (p: number): number => round3(Math.min(h.getValueAtPercentile(p), max) / 1000);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: round3(max / 1000), mean: round3(h.mean / 1000) };
}
