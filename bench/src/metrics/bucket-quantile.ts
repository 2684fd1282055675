// A quantile of a Prometheus histogram the way PromQL's histogram_quantile() estimates it
// (https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile): find the bucket the rank
// falls in and interpolate linearly within it, the first bucket starting at 0; a rank in the +Inf bucket answers
// the highest finite bound. So the bench's figure for a stage is the one Grafana shows for the same window.
import type { BucketCounts } from '../target/server-metrics';

/** q in 0..1; null when the histogram is empty. */
export function bucketQuantile(h: BucketCounts, q: number): number | null {
  const b = h.buckets;
  const total = b.length > 0 ? b[b.length - 1]!.count : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of b) {
    if (count >= rank && count > prevCount) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / (count - prevCount));
    }
    if (le !== Infinity) prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
