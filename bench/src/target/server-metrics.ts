// The service's own counts, read from its /metrics (the contract in the bench issue): Push requests answered by
// Twirp code, rows committed, flush and pool trouble. Scraped before and after every stage; the delta is the
// server's view of that stage.
import { PUSH_PATH } from '../request-builder';
import { parsePrometheusText, sum, type Sample } from './prometheus-text';

export interface ServerSnapshot {
  at: number;
  /** Push requests answered, by Twirp code (`ok` = accepted), from pageview_pushes_total; null if absent. */
  pushes: Record<string, number> | null;
  /** Push requests by Twirp code from http_server_request_duration_seconds_count; null if absent. */
  http: Record<string, number> | null;
  /** Counters, read as totals (deltas are taken by `diffSnapshots`). */
  counters: Record<string, number>;
  /** Gauges, read as they are at scrape time (the `*_peak` ones: the highest since this reader's previous scrape). */
  gauges: Record<string, number>;
  /** Histograms the server-side timing comes from (flush duration, pool acquire wait, rows per flush), cumulative. */
  histograms: Record<string, BucketCounts>;
}

/** A Prometheus histogram as scraped: cumulative counts per upper bound (ascending, the last +Inf), sum, count. */
export interface BucketCounts {
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export class ScrapeError extends Error {
  readonly code = 'BENCH_SCRAPE_FAILED';
}

const MAX_BYTES = 16 * 1024 * 1024;

/**
 * `window` names this reader's window for the service's peak gauges (/metrics?window=NAME), so its scrapes and a
 * Prometheus' never reset each other's high-water marks.
 */
export async function scrapeMetrics(baseUrl: string, timeoutMs = 3000, window?: string): Promise<ServerSnapshot> {
  const u = new URL('/metrics', baseUrl);
  if (window !== undefined) u.searchParams.set('window', window);
  const url = u.toString();
  let text: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ScrapeError(`GET ${url} answered ${res.status}`);
    }
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len > MAX_BYTES) {
      await res.body?.cancel();
      throw new ScrapeError(`GET ${url}: ${len} bytes is more than the ${MAX_BYTES} this reader accepts`);
    }
    text = await res.text();
  } catch (e) {
    if (e instanceof ScrapeError) throw e;
    throw new ScrapeError(`GET ${url} failed: ${(e as Error).message}`);
  }
  return snapshotFromText(text);
}

const COUNTERS: Record<string, [string, Record<string, string>?]> = {
  rows_committed: ['pageview_rows_committed_total'],
  flush_failures: ['pageview_flush_failures_total'],
  db_connection_timeouts: ['db_client_connection_timeouts_total'],
  db_connection_errors: ['db_client_connection_errors_total'],
  flushes: ['pageview_flush_duration_seconds_count'],
  batched_rows: ['pageview_batch_size_sum'],
};
const GAUGES: Record<string, [string, Record<string, string>?]> = {
  buffer_depth: ['pageview_buffer_depth'],
  buffer_capacity: ['pageview_buffer_capacity'],
  buffer_depth_peak: ['pageview_buffer_depth_peak'],
  db_connections_used_peak: ['db_client_connection_used_peak'],
  active_requests: ['http_server_active_requests'],
  active_requests_peak: ['http_server_active_requests_peak'],
  db_connections_used: ['db_client_connection_count', { db_client_connection_state: 'used' }],
  db_connections_idle: ['db_client_connection_count', { db_client_connection_state: 'idle' }],
  db_connections_max: ['db_client_connection_max'],
  db_pending_requests: ['db_client_connection_pending_requests'],
};
const HISTOGRAMS: Record<string, string> = {
  flush_seconds: 'pageview_flush_duration_seconds',
  acquire_wait_seconds: 'db_client_connection_wait_time_seconds',
  batch_rows: 'pageview_batch_size',
};

export function snapshotFromText(text: string, at = Date.now()): ServerSnapshot {
  const samples = parsePrometheusText(text);
  return {
    at,
    pushes: pushesByCode(samples),
    http: httpPushByCode(samples),
    counters: { ...pick(samples, COUNTERS), ...breakdowns(samples) },
    gauges: pick(samples, GAUGES),
    histograms: histograms(samples),
  };
}

/** Each histogram of HISTOGRAMS summed over its label sets (bucket by bucket), when the target exposes it. */
function histograms(samples: Sample[]): Record<string, BucketCounts> {
  const out: Record<string, BucketCounts> = {};
  for (const [key, name] of Object.entries(HISTOGRAMS)) {
    const byLe = new Map<number, number>();
    let sum = 0;
    let count = 0;
    let seen = false;
    for (const s of samples) {
      if (s.name === `${name}_bucket`) {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        if (Number.isNaN(le)) continue;
        byLe.set(le, (byLe.get(le) ?? 0) + s.value);
        seen = true;
      } else if (s.name === `${name}_sum`) sum += s.value;
      else if (s.name === `${name}_count`) count += s.value;
    }
    if (!seen) continue;
    out[key] = { buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c })), sum, count };
  }
  return out;
}

/**
 * Counters split by label, so the table can say which error it was: database errors by MySQL error code and
 * errno (ER_CON_COUNT_ERROR/1040 is "too many connections"), flush failures by Twirp code. Keys look like
 * "db_connection_errors:ER_CON_COUNT_ERROR/1040" and "flush_failures:unavailable".
 */
function breakdowns(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    let key: string | undefined;
    if (s.name === 'db_client_connection_errors_total') {
      key = `db_connection_errors:${s.labels.error_code || 'unknown'}${s.labels.errno ? `/${s.labels.errno}` : ''}`;
    } else if (s.name === 'pageview_flush_failures_total') {
      key = `flush_failures:${s.labels.twirp_code || 'unknown'}`;
    } else if (s.name === 'pageview_rows_failed_total') {
      key = `rows_failed:${s.labels.error_code || 'unknown'}`;
    }
    if (key !== undefined) out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

function pushesByCode(samples: Sample[]): Record<string, number> | null {
  if (!samples.some((s) => s.name === 'pageview_pushes_total')) return null;
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'pageview_pushes_total') continue;
    const code = s.labels.result === 'accepted' ? 'ok' : (s.labels.twirp_code || 'unknown');
    out[code] = (out[code] ?? 0) + s.value;
  }
  return out;
}

function httpPushByCode(samples: Sample[]): Record<string, number> | null {
  const name = 'http_server_request_duration_seconds_count';
  if (!samples.some((s) => s.name === name)) return null;
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name || !isPushRoute(s.labels.http_route)) continue;
    const code = s.labels.twirp_code || 'unknown';
    out[code] = (out[code] ?? 0) + s.value;
  }
  return out;
}

function isPushRoute(route: string | undefined): boolean {
  return route !== undefined && (route === PUSH_PATH || route.endsWith('StatsService/Push'));
}

function pick(samples: Sample[], table: Record<string, [string, Record<string, string>?]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, [name, match]] of Object.entries(table)) {
    const v = sum(samples, name, match);
    if (v !== undefined) out[key] = v;
  }
  return out;
}


export interface SnapshotDelta {
  pushes: Record<string, number> | null;
  http: Record<string, number> | null;
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, BucketCounts>;
}

/** after - before for counters (a counter that went down means the service restarted: the after value is used). */
export function diffSnapshots(before: ServerSnapshot, after: ServerSnapshot): SnapshotDelta {
  return {
    pushes: diffMap(before.pushes, after.pushes),
    http: diffMap(before.http, after.http),
    counters: diffMap(before.counters, after.counters) ?? {},
    gauges: after.gauges,
    histograms: diffHistograms(before.histograms, after.histograms),
  };
}

/** Bucket by bucket; a histogram that went down (the service restarted) counts from zero, as counters do. */
function diffHistograms(a: Record<string, BucketCounts>, b: Record<string, BucketCounts>): Record<string, BucketCounts> {
  const out: Record<string, BucketCounts> = {};
  for (const [k, h] of Object.entries(b)) {
    const prev = a[k];
    const restarted = prev === undefined || h.count < prev.count;
    if (restarted) {
      out[k] = h;
      continue;
    }
    const prevAt = new Map(prev.buckets.map((x) => [x.le, x.count]));
    out[k] = {
      buckets: h.buckets.map((x) => ({ le: x.le, count: Math.max(0, x.count - (prevAt.get(x.le) ?? 0)) })),
      sum: h.sum - prev.sum,
      count: h.count - prev.count,
    };
  }
  return out;
}

function diffMap(a: Record<string, number> | null, b: Record<string, number> | null): Record<string, number> | null {
  if (b === null) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const prev = a?.[k] ?? 0;
    const d = v >= prev ? v - prev : v;
    if (d !== 0) out[k] = d;
  }
  return out;
}

export function total(m: Record<string, number> | null): number {
  if (m === null) return 0;
  return Object.values(m).reduce((a, b) => a + b, 0);
}
