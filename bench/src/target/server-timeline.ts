// The service's side of a stage, scrape by scrape: about once a second during the stage the bench reads /metrics
// (in its own peak window, so Prometheus scraping the same service never resets the bench's high-water marks, and
// the other way round), and keeps per scrape the requests answered and failed by Twirp code, the flush p99, pool
// use and buffer depth at their peaks since the previous scrape. A scrape that fails is counted and the next one
// tries again: a service that comes back is followed again.
import { bucketQuantile } from '../metrics/bucket-quantile';
import { diffSnapshots, scrapeMetrics, type ServerSnapshot } from './server-metrics';

/** One entry of stages[].server_timeline[] (deltas since the previous scrape where the figure is a counter). */
export interface ServerTimelineEntry {
  t_s: number;
  requests: number;
  errors: number;
  by_twirp_code: Record<string, number>;
  flush_p99_ms: number | null;
  pool_used: number | null;
  pool_max: number | null;
  buffer_depth: number | null;
  buffer_capacity: number | null;
}

export interface StagePeaks {
  buffer: { peak: number | null; capacity: number | null };
  pool: { peak: number | null; max: number | null };
  in_flight: { peak: number | null };
}

/** Most entries kept per stage (an hour at one a second); past it only the peaks are followed. */
export const MAX_ENTRIES = 3600;

/** A window name the service accepts (peak-windows.ts): 1-64 of [A-Za-z0-9._:-]. */
export function benchWindow(runId: string): string {
  return `bench-${runId}`.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 64);
}

export class ServerTimeline {
  readonly entries: ServerTimelineEntry[] = [];
  failures = 0;
  lastError: string | undefined;
  private readonly max = { buffer: -1, pool: -1, inFlight: -1 };
  private capacity: number | null = null;
  private poolMax: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | null = null;

  /**
   * `prev` is the scrape before the stage (null if it failed: the first scrape during the stage then only starts
   * the deltas); `startedAt` the stage's start, epoch ms.
   */
  constructor(
    private readonly target: string,
    private readonly window: string,
    private readonly startedAt: number,
    private prev: ServerSnapshot | null,
  ) {}

  start(everyMs = 1000): void {
    this.timer = setInterval(() => {
      if (this.inFlight) return;
      this.inFlight = scrapeMetrics(this.target, Math.min(everyMs * 2, 3000), this.window)
        .then((snap) => this.add(snap))
        .catch((e: unknown) => {
          this.failures++;
          this.lastError = (e as Error).message;
        })
        .finally(() => {
          this.inFlight = null;
        });
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }

  /** A scrape in this window: an entry (when there is a previous scrape to take deltas from) and the peaks. */
  add(snap: ServerSnapshot, entry = true): void {
    const g = snap.gauges;
    this.fold(g);
    const prev = this.prev;
    this.prev = snap;
    if (!entry || prev === null || this.entries.length >= MAX_ENTRIES) return;
    const d = diffSnapshots(prev, snap);
    const codes = d.pushes ?? d.http ?? {};
    const requests = Object.values(codes).reduce((a, b) => a + b, 0);
    const flush = d.histograms.flush_seconds;
    const p99 = flush ? bucketQuantile(flush, 0.99) : null;
    this.entries.push({
      t_s: Math.round((snap.at - this.startedAt) / 100) / 10,
      requests,
      errors: requests - (codes.ok ?? 0),
      by_twirp_code: codes,
      flush_p99_ms: p99 === null ? null : Math.round(p99 * 1e6) / 1000,
      pool_used: g.db_connections_used_peak ?? g.db_connections_used ?? null,
      pool_max: g.db_connections_max ?? null,
      buffer_depth: g.buffer_depth_peak ?? g.buffer_depth ?? null,
      buffer_capacity: g.buffer_capacity ?? null,
    });
  }

  private fold(g: Record<string, number>): void {
    const up = (k: 'buffer' | 'pool' | 'inFlight', v: number | undefined) => {
      if (v !== undefined && Number.isFinite(v)) this.max[k] = Math.max(this.max[k], v);
    };
    up('buffer', g.buffer_depth_peak ?? g.buffer_depth);
    up('pool', g.db_connections_used_peak ?? g.db_connections_used);
    up('inFlight', g.active_requests_peak ?? g.active_requests);
    if (g.buffer_capacity !== undefined) this.capacity = g.buffer_capacity;
    if (g.db_connections_max !== undefined) this.poolMax = g.db_connections_max;
  }

  /** High-water marks over the stage, capacity beside each (null where the service exposes nothing). */
  peaks(): StagePeaks {
    const v = (x: number) => (x < 0 ? null : x);
    return {
      buffer: { peak: v(this.max.buffer), capacity: this.capacity },
      pool: { peak: v(this.max.pool), max: this.poolMax },
      in_flight: { peak: v(this.max.inFlight) },
    };
  }
}
