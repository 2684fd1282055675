// Where the service spent a stage's time, from the histogram deltas of two /metrics scrapes around it: how long
// a flush (one multi-row INSERT and its commit) took, how long a flush waited for a pool connection, and how many
// rows a flush carried. This is what explains a client p99: a Push is answered only once its flush committed.
import { bucketQuantile } from '../metrics/bucket-quantile';
import type { SnapshotDelta } from './server-metrics';

export interface ServerTime {
  flush_ms: { p50: number | null; p99: number | null };
  acquire_wait_ms: { p99: number | null };
  rows_per_flush: { mean: number | null };
  flushes: number;
}

const ms = (s: number | null) => (s === null ? null : Math.round(s * 1e6) / 1000);

export function serverTime(d: SnapshotDelta): ServerTime | undefined {
  const flush = d.histograms.flush_seconds;
  const wait = d.histograms.acquire_wait_seconds;
  const rows = d.histograms.batch_rows;
  if (!flush && !wait && !rows) return undefined;
  return {
    flush_ms: { p50: flush ? ms(bucketQuantile(flush, 0.5)) : null, p99: flush ? ms(bucketQuantile(flush, 0.99)) : null },
    acquire_wait_ms: { p99: wait ? ms(bucketQuantile(wait, 0.99)) : null },
    rows_per_flush: { mean: rows && rows.count > 0 ? Math.round((rows.sum / rows.count) * 10) / 10 : null },
    flushes: flush?.count ?? 0,
  };
}
