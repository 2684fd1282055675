// The Prometheus registry of one app instance (never prom-client's global one). Metric names and labels are a
// contract read by the bench and the Grafana dashboards. Pool metrics follow OpenTelemetry's db.client.connection.*
// semantic conventions in Prometheus spelling (https://opentelemetry.io/docs/specs/semconv/database/database-metrics/).
// Gauges are read at collect time, so a scrape costs the same under load as at rest.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PoolObserver, PoolStats } from '../db/pool';
import { SeriesCounter, SeriesHistogram, type CounterSeries, type HistogramSeries } from './series-metrics';
import { PeakGauge } from './peak-windows';

export const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const BATCH_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** What a flush tells the metrics (the group committer's FlushResult has this shape; telemetry does not import it). */
export interface FlushObservation {
  rows: number;
  seconds: number;
  error: { twirpCode: string; code: string } | undefined;
  rowErrors: readonly { twirpCode: string; code: string }[];
}

export interface MetricsSources {
  bufferDepth(): number;
  bufferCapacity(): number;
  /** Undefined when the store has no pool (embedded store): pool gauges then read 0. */
  poolStats(): PoolStats | undefined;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: SeriesHistogram<'http_request_method' | 'http_route' | 'http_response_status_code' | 'twirp_code'>;
  readonly pushes: SeriesCounter<'result' | 'twirp_code'>;
  readonly rowsCommitted: Counter;
  readonly batchSize: Histogram;
  readonly flushDuration: Histogram;
  readonly flushFailures: Counter<'twirp_code'>;
  readonly poolWait: Histogram;
  readonly poolTimeouts: Counter;
  readonly poolErrors: Counter<'error_code' | 'errno'>;
  readonly rowsFailed: Counter<'twirp_code' | 'error_code'>;
  /** HTTP requests received and not yet answered (scrapes included). */
  activeRequests = 0;
  /** High-water marks per scraper window (peak-windows.ts), read by prepareScrape(). */
  readonly peaks = {
    buffer: new PeakGauge(() => this.sources.bufferDepth()),
    poolUsed: new PeakGauge(() => {
      const s = this.sources.poolStats();
      return s === undefined ? 0 : s.used + s.connecting;
    }),
    activeRequests: new PeakGauge(() => this.activeRequests),
  };
  private peakReading = { buffer: 0, poolUsed: 0, activeRequests: 0 };
  private sources: MetricsSources = { bufferDepth: () => 0, bufferCapacity: () => 0, poolStats: () => undefined };

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const self = this;
    // The two metrics every request updates are series metrics (series-metrics.ts); the rest change per flush or
    // per connection event and stay prom-client's own.
    this.httpDuration = new SeriesHistogram({
      name: 'http_server_request_duration_seconds',
      help: 'Duration of HTTP server requests (not counting /metrics scrapes).',
      labelNames: ['http_request_method', 'http_route', 'http_response_status_code', 'twirp_code'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.pushes = new SeriesCounter({
      name: 'pageview_pushes_total',
      help: 'Push requests answered, by result (accepted|rejected) and Twirp code (ok or the error code).',
      labelNames: ['result', 'twirp_code'],
      registers,
    });
    this.rowsCommitted = new Counter({
      name: 'pageview_rows_committed_total',
      help: 'Pageview rows the store confirmed as committed.',
      registers,
    });
    this.batchSize = new Histogram({
      name: 'pageview_batch_size',
      help: 'Rows per flush (one multi-row INSERT).',
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.flushDuration = new Histogram({
      name: 'pageview_flush_duration_seconds',
      help: 'Duration of one flush, from handing the batch to the store to its commit or failure.',
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.flushFailures = new Counter({
      name: 'pageview_flush_failures_total',
      help: 'Flushes that failed, by the Twirp code their Pushes were answered with.',
      labelNames: ['twirp_code'],
      registers,
    });
    new Gauge({
      name: 'pageview_buffer_depth',
      help: 'Pushes waiting in the write buffer for a flush.',
      registers,
      collect() {
        this.set(self.sources.bufferDepth());
      },
    });
    new Gauge({
      name: 'pageview_buffer_capacity',
      help: 'Most Pushes the write buffer holds; beyond it Push answers resource_exhausted.',
      registers,
      collect() {
        this.set(self.sources.bufferCapacity());
      },
    });
    const poolNote = ' Reads 0 with the embedded in-memory store, which has no pool.';
    new Gauge({
      name: 'db_client_connection_count',
      help: 'Open database connections by state (idle|used); connections still handshaking count as used.' + poolNote,
      labelNames: ['db_client_connection_state'],
      registers,
      collect() {
        const s = self.sources.poolStats();
        this.set({ db_client_connection_state: 'idle' }, s?.idle ?? 0);
        this.set({ db_client_connection_state: 'used' }, s === undefined ? 0 : s.used + s.connecting);
      },
    });
    new Gauge({
      name: 'db_client_connection_max',
      help: 'Most open connections the pool allows.' + poolNote,
      registers,
      collect() {
        this.set(self.sources.poolStats()?.max ?? 0);
      },
    });
    new Gauge({
      name: 'db_client_connection_pending_requests',
      help: 'Callers waiting for a pool connection.' + poolNote,
      registers,
      collect() {
        this.set(self.sources.poolStats()?.pending ?? 0);
      },
    });
    this.poolWait = new Histogram({
      name: 'db_client_connection_wait_time_seconds',
      help: 'Time to acquire a pool connection (including opening one).',
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.poolTimeouts = new Counter({
      name: 'db_client_connection_timeouts_total',
      help: 'Connection acquisitions that gave up after the acquire timeout.',
      registers,
    });
    this.poolErrors = new Counter({
      name: 'db_client_connection_errors_total',
      help: "Connections that failed to open or died, by mysql2's error code and MySQL errno (none for network errors).",
      labelNames: ['error_code', 'errno'],
      registers,
    });
    this.rowsFailed = new Counter({
      name: 'pageview_rows_failed_total',
      help:
        'Pushes whose flush failed, by the Twirp code they were answered with and the error that failed the flush ' +
        "(mysql2's code, e.g. ER_CON_COUNT_ERROR for MySQL 1040, or the pool's, e.g. POOL_ACQUIRE_TIMEOUT).",
      labelNames: ['twirp_code', 'error_code'],
      registers,
    });
    new Gauge({
      name: 'http_server_active_requests',
      help: 'HTTP requests received and not yet answered.',
      registers,
      collect() {
        this.set(self.activeRequests);
      },
    });
    const peakNote =
      " since this scraper's previous scrape: each scraper names its own window with /metrics?window=NAME " +
      '(none = the window "default"), so scrapers at different paces never reset each other\'s peak.';
    new Gauge({
      name: 'pageview_buffer_depth_peak',
      help: 'Most Pushes waiting in the write buffer at once' + peakNote,
      registers,
      collect() {
        this.set(self.peakReading.buffer);
      },
    });
    new Gauge({
      name: 'db_client_connection_used_peak',
      help: 'Most pool connections in use (or opening) at once' + peakNote + poolNote,
      registers,
      collect() {
        this.set(self.peakReading.poolUsed);
      },
    });
    new Gauge({
      name: 'http_server_active_requests_peak',
      help: 'Most HTTP requests in flight at once' + peakNote,
      registers,
      collect() {
        this.set(self.peakReading.activeRequests);
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  bind(sources: MetricsSources): void {
    this.sources = sources;
  }

  /**
   * Takes the peaks of `window` for the scrape about to be rendered, and starts that window's next period. The
   * render must follow synchronously (prom-client calls every collect() before its first await).
   */
  prepareScrape(window: string): void {
    this.peakReading = {
      buffer: this.peaks.buffer.read(window),
      poolUsed: this.peaks.poolUsed.read(window),
      activeRequests: this.peaks.activeRequests.read(window),
    };
  }

  requestStarted(): void {
    this.peaks.activeRequests.observe(++this.activeRequests);
  }

  requestEnded(): void {
    if (this.activeRequests > 0) this.activeRequests--;
  }

  readonly poolObserver: PoolObserver = {
    onAcquire: (s) => {
      this.poolWait.observe(s);
      const p = this.sources.poolStats();
      if (p !== undefined) this.peaks.poolUsed.observe(p.used + p.connecting);
    },
    onAcquireTimeout: () => this.poolTimeouts.inc(),
    onConnectionError: (code, errno) =>
      this.poolErrors.inc({ error_code: code, errno: errno !== undefined && errno > 0 ? String(errno) : 'none' }),
  };

  /** One flush: its size and time, and how it failed whole or row by row (the committer's FlushResult). */
  observeFlush(r: FlushObservation): void {
    this.batchSize.observe(r.rows);
    this.flushDuration.observe(r.seconds);
    if (r.error === undefined) {
      this.rowsCommitted.inc(r.rows - r.rowErrors.length);
      for (const e of r.rowErrors) this.rowsFailed.inc({ twirp_code: e.twirpCode, error_code: e.code });
    } else {
      this.flushFailures.inc({ twirp_code: r.error.twirpCode });
      this.rowsFailed.inc({ twirp_code: r.error.twirpCode, error_code: r.error.code }, r.rows);
    }
  }

  /** The write buffer now holds `depth` rows (its high-water mark, peak-windows.ts). */
  readonly observeBufferDepth = (depth: number): void => this.peaks.buffer.observe(depth);

  // Label sets repeat (a handful of methods, routes, statuses and codes), so each one's series is kept by a key
  // built from the values. Bounded by what the service produces: llhttp accepts a fixed set of methods, routes are
  // the registered ones or 'unmatched', codes come from the Twirp table.
  private readonly requestSeries = new Map<string, HistogramSeries>();
  private readonly pushSeries = new Map<string, CounterSeries>();

  // Under load nearly every request has the label set of the one before: that one is checked first.
  private last: { method: string; route: string; status: number; code: string; series: HistogramSeries } | undefined;

  /**
   * One answered HTTP request; `twirpCode` is null for non-Twirp routes. With a trace id (the request had a W3C
   * traceparent, or the service traced it) the observation becomes its bucket's exemplar.
   */
  observeRequest(
    method: string, route: string, status: number, twirpCode: string | null, seconds: number,
    trace?: { traceId: string; sampled: boolean },
  ): void {
    const code = twirpCode ?? 'none';
    const last = this.last;
    if (last !== undefined && last.status === status && last.code === code && last.route === route && last.method === method) {
      if (trace === undefined) last.series.observe(seconds);
      else last.series.observeWithTrace(seconds, trace.traceId, trace.sampled);
      return;
    }
    const key = `${method} ${route} ${status} ${code}`;
    let series = this.requestSeries.get(key);
    if (series === undefined) {
      series = this.httpDuration.series({
        http_request_method: method,
        http_route: route,
        http_response_status_code: status,
        twirp_code: code,
      });
      this.requestSeries.set(key, series);
    }
    this.last = { method, route, status, code, series };
    if (trace === undefined) series.observe(seconds);
    else series.observeWithTrace(seconds, trace.traceId, trace.sampled);
  }

  observePush(twirpCode: string): void {
    let series = this.pushSeries.get(twirpCode);
    if (series === undefined) {
      series = this.pushes.series({ result: twirpCode === 'ok' ? 'accepted' : 'rejected', twirp_code: twirpCode });
      this.pushSeries.set(twirpCode, series);
    }
    series.inc();
  }
}
