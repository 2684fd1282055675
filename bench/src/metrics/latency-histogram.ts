// A latency histogram with microsecond resolution (HDR, 3 significant digits) plus the exact sum, max and
// Prometheus-style cumulative buckets, so a summary, a live snapshot and a remote-write series all come from
// one recording. autocannon's own histograms record whole milliseconds (sub-ms values collapse to 0), which is
// why the executors record into this instead.
import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from '../types';

/** Bucket upper bounds in seconds (Prometheus http duration defaults, widened at both ends). */
export const BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
const BUCKETS_US = BUCKETS_SECONDS.map((s) => s * 1e6);

/** One hour in microseconds: larger values are clamped (recorded as one hour) and counted in `clamped`. */
export const MAX_TRACKABLE_US = 3_600_000_000;

export class LatencyHistogram {
  private readonly hist = hdr.build({
    bitBucketSize: 32,
    useWebAssembly: false,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });
  /** per-bucket (not cumulative) counts; the last slot is +Inf */
  private readonly buckets = new Float64Array(BUCKETS_US.length + 1);
  private sumUs = 0;
  private maxUs = 0;
  count = 0;
  clamped = 0;

  /** Records one value in microseconds (fractions kept in sum and max, rounded for the HDR). */
  record(us: number): void {
    if (!(us >= 0)) us = 0; // NaN or negative (clock oddities) count as 0, never throw on the hot path
    if (us > MAX_TRACKABLE_US) { us = MAX_TRACKABLE_US; this.clamped++; }
    this.hist.recordValue(us < 1 ? 1 : Math.round(us));
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
    let i = 0;
    while (i < BUCKETS_US.length && us > BUCKETS_US[i]) i++;
    this.buckets[i]++;
  }

  /** Milliseconds with microsecond resolution; all zeros when empty. */
  summary(): LatencySummary {
    if (this.count === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    const at = (p: number): number => Math.min(this.hist.getValueAtPercentile(p), this.maxUs) / 1000;
    return {
      p50: round3(at(50)),
      p90: round3(at(90)),
      p99: round3(at(99)),
      p999: round3(at(99.9)),
      max: round3(this.maxUs / 1000),
      mean: round3(this.sumUs / this.count / 1000),
    };
  }

  /** Any percentile in ms (0..100). */
  percentileMs(p: number): number {
    return this.count === 0 ? 0 : round3(Math.min(this.hist.getValueAtPercentile(p), this.maxUs) / 1000);
  }

  /** Cumulative buckets, `le` in seconds; the last is +Inf. */
  cumulativeBuckets(): { le: number; count: number }[] {
    const out: { le: number; count: number }[] = [];
    let acc = 0;
    for (let i = 0; i < BUCKETS_SECONDS.length; i++) {
      acc += this.buckets[i];
      out.push({ le: BUCKETS_SECONDS[i], count: acc });
    }
    acc += this.buckets[BUCKETS_SECONDS.length];
    out.push({ le: Number.POSITIVE_INFINITY, count: acc });
    return out;
  }

  get sumSeconds(): number {
    return this.sumUs / 1e6;
  }

  destroy(): void {
    this.hist.destroy();
  }
}

/** ms rounded to the microsecond (3 decimals): keeps the resolution, drops float noise. */
function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
