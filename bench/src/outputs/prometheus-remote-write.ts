// Bench output `prometheus` (--prometheus-rw URL): pushes the bench's live metrics to Prometheus by remote write
// 1.0 every few seconds, so the client's view sits next to the service's own /metrics on one Grafana screen.
//
// Spec: https://prometheus.io/docs/specs/remote_write_spec/ (protobuf WriteRequest, snappy block format, the
// three headers; labels sorted, __name__ present, samples in timestamp order per series).
// Receiver: Prometheus >= 2.33 started with --web.enable-remote-write-receiver (Debian's 2.42 is fine).
//
// The load must never wait for Prometheus. `add` only stores the latest cumulative snapshot of the stage;
// a timer turns the stored state into one batch (every series, one sample each) and puts it on a small bounded
// queue; one sender drains the queue in the background, one request at a time, each with a timeout. A batch
// that fails (Prometheus down, slow, or answering an error) is dropped and counted, never retried: every batch
// carries cumulative counters, so a dropped batch costs resolution, not counts, and retrying would only make
// a backlog. When the queue is full the oldest batch goes (the newest carries the freshest counters).
//
// Series (all with labels run, profile, stage, plus any runLabels):
//   bench_requests_sent_total                       requests put on the wire
//   bench_requests_total{outcome}                   finished requests, outcome = ok | http_error (a non-2xx
//                                                   answer) | socket_error | timeout; one outcome per request
//   bench_responses_total{http_status}              answers by HTTP status
//   bench_twirp_responses_total{twirp_code}         answers by Twirp code (`ok` for success, as the service)
//   bench_errors_total{error_code}                  failures by the bench's error class
//   bench_dropped_total                             open model: arrivals dropped at the in-flight cap
//   bench_request_duration_seconds_bucket{le}/_sum/_count   latency, same bucket bounds as the service
//   bench_in_flight, bench_target_rate, bench_achieved_rate  gauges
//   bench_worker_requests_sent_total{worker}, bench_worker_requests_total{worker,outcome},
//   bench_worker_in_flight{worker}, bench_worker_achieved_rate{worker}   distributed runs: each worker's own
//                                                   part (worker = its index); the series above are the merge
// Counters are per stage label, cumulative since the stage started, and kept monotonic here. When a stage
// ends, its series get a final sample and then a staleness marker, so gauges of a finished stage stop at
// the stage's end instead of lingering for Prometheus' 5-minute lookback.
import { Writer } from 'protobufjs';
import pino from 'pino';
import type { BenchEvent, Counts, Output, RunInfo, StageInfo, StageSnapshot, Summary } from '../types';
import { BackgroundSender } from './background-sender';

// snappyjs ships no type declarations; compress (block format) is the one function used.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappy = require('snappyjs') as { compress(input: Uint8Array): Uint8Array };

// ---------------------------------------------------------------------------------------------------------
// Options and errors

export interface PrometheusRemoteWriteOptions {
  /** The receiver, e.g. http://127.0.0.1:9090/api/v1/write */
  url: string;
  /**
   * Extra labels on every series (e.g. {host: "ci-7"}). run, profile and stage always come from the run itself
   * (a different value given here is ignored with a warning); a name that a series uses for itself (le,
   * twirp_code, ...) or an invalid name is refused.
   */
  runLabels?: Record<string, string>;
  /** How often a batch is built; 0 or unset = 5000 ms; clamped to 100..60000. */
  intervalMs?: number;
  /** Per-request timeout; 0 or unset = 5000 ms; clamped to 100..60000. `stop` waits at most twice this. */
  timeoutMs?: number;
  /** Batches waiting to be sent; 0 or unset = 4; clamped to 1..100. */
  maxQueuedBatches?: number;
  /** Where drops and the final tally are logged; defaults to a pino logger on stderr. */
  logger?: Pick<pino.BaseLogger, 'warn' | 'info'>;
}

export const REMOTE_WRITE_ERROR_CODES = {
  BAD_OPTIONS: 'BENCH_PROMETHEUS_RW_BAD_OPTIONS',
  BAD_SERIES: 'BENCH_PROMETHEUS_RW_BAD_SERIES',
} as const;

export class RemoteWriteError extends Error {
  constructor(
    readonly code: (typeof REMOTE_WRITE_ERROR_CODES)[keyof typeof REMOTE_WRITE_ERROR_CODES],
    message: string,
  ) {
    super(message);
    this.name = 'RemoteWriteError';
  }
}

export interface RemoteWriteStats {
  batchesSent: number;
  batchesDropped: number;
  samplesSent: number;
  samplesDropped: number;
  /** why the last batch was dropped, e.g. "HTTP 400: out of order sample" or "ECONNREFUSED" */
  lastError: string | null;
}

export interface PrometheusRemoteWriteOutput extends Output {
  stats(): RemoteWriteStats;
}

// ---------------------------------------------------------------------------------------------------------
// Wire format (remote-write.proto beside this file, written from the spec)

export interface Label {
  name: string;
  value: string;
}

/** `value: 'stale'` writes Prometheus' staleness marker: the series ends at this timestamp. */
export interface Sample {
  value: number | 'stale';
  timestampMs: number;
}

export interface TimeSeries {
  labels: Label[];
  samples: Sample[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const tag = (field: number, wire: number): number => (field << 3) | wire;

// Prometheus recognises its StaleNaN by all 64 bits (0x7ff0000000000002); a NaN that passes through a JS number
// may come out with its quiet bit set, so the marker is written as two raw little-endian 32-bit halves.
const STALE_LOW = 0x00000002;
const STALE_HIGH = 0x7ff00000;

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels every series gets from the run itself. */
const RUN_LABELS = new Set(['run', 'profile', 'stage']);
/** Labels some series carry on their own; a run label of the same name would duplicate them. */
const SERIES_LABELS = new Set(['__name__', 'outcome', 'http_status', 'twirp_code', 'error_code', 'le', 'worker', 'job', 'instance']);

/**
 * Sorts labels by name (the spec: names MUST be sorted lexicographically), drops empty values (an empty value
 * means "no such label" in Prometheus) and rejects what the spec forbids, so a bad series fails here with a
 * clear message rather than as a 400 from Prometheus that drops the whole batch.
 */
export function normaliseLabels(labels: Label[]): Label[] {
  const sorted = labels
    .filter((l) => l.value !== '')
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let hasName = false;
  for (let i = 0; i < sorted.length; i++) {
    const l = sorted[i]!;
    if (!LABEL_NAME_RE.test(l.name)) {
      throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_SERIES, `invalid label name ${JSON.stringify(l.name)}`);
    }
    if (i > 0 && sorted[i - 1]!.name === l.name) {
      throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_SERIES, `duplicate label ${l.name}`);
    }
    if (l.name === '__name__') hasName = true;
  }
  if (!hasName) throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_SERIES, 'series without __name__');
  return sorted;
}

/** The protobuf bytes of a prometheus.WriteRequest; labels must be normalised already. */
export function encodeWriteRequest(series: TimeSeries[]): Uint8Array {
  const w = Writer.create();
  for (const ts of series) {
    w.uint32(tag(1, WIRE_LEN)).fork(); // WriteRequest.timeseries = 1
    for (const l of ts.labels) {
      w.uint32(tag(1, WIRE_LEN)).fork(); // TimeSeries.labels = 1
      w.uint32(tag(1, WIRE_LEN)).string(l.name); // Label.name = 1
      w.uint32(tag(2, WIRE_LEN)).string(l.value); // Label.value = 2
      w.ldelim();
    }
    for (const s of ts.samples) {
      w.uint32(tag(2, WIRE_LEN)).fork(); // TimeSeries.samples = 2
      w.uint32(tag(1, WIRE_FIXED64)); // Sample.value = 1 (double)
      if (s.value === 'stale') w.fixed32(STALE_LOW).fixed32(STALE_HIGH);
      else w.double(s.value);
      w.uint32(tag(2, WIRE_VARINT)).int64(Math.trunc(s.timestampMs)); // Sample.timestamp = 2 (ms)
      w.ldelim();
    }
    w.ldelim();
  }
  return w.finish();
}

/** The HTTP body: snappy block format (not the framed format) over the protobuf bytes. */
export function encodeRemoteWriteBody(series: TimeSeries[]): Uint8Array {
  return snappy.compress(encodeWriteRequest(series));
}

export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Encoding': 'snappy',
  'Content-Type': 'application/x-protobuf',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
  'User-Agent': 'pageview-stress-bench',
});

// ---------------------------------------------------------------------------------------------------------
// From snapshots to series

/** Prometheus' own spelling of a bucket bound: "+Inf" for infinity, shortest decimal otherwise. */
export function formatLe(le: number): string {
  if (le === Number.POSITIVE_INFINITY) return '+Inf';
  return String(le);
}

interface Point {
  name: string;
  labels: Record<string, string>;
  value: number;
  counter: boolean;
}

/** Every metric the bench pushes for one stage snapshot (without the run/profile/stage labels). */
export function snapshotPoints(s: StageSnapshot): Point[] {
  const out: Point[] = [];
  const counter = (name: string, value: number, labels: Record<string, string> = {}): void => {
    out.push({ name, labels, value, counter: true });
  };
  const gauge = (name: string, value: number, labels: Record<string, string> = {}): void => {
    out.push({ name, labels, value, counter: false });
  };
  // The bench's Counts overlap (errors = non-2xx answers + socket failures + timeouts, see
  // bench/src/metrics/stage-recorder.ts); as outcomes they are split so that every finished request is in one.
  const outcomes = (name: string, c: Counts, labels: Record<string, string>): void => {
    const httpErrors = Math.max(0, c.completed - c.ok);
    counter(name, c.ok, { ...labels, outcome: 'ok' });
    counter(name, httpErrors, { ...labels, outcome: 'http_error' });
    counter(name, Math.max(0, c.errors - httpErrors - c.timeouts), { ...labels, outcome: 'socket_error' });
    counter(name, c.timeouts, { ...labels, outcome: 'timeout' });
  };
  counter('bench_requests_sent_total', s.counts.sent);
  outcomes('bench_requests_total', s.counts, {});
  counter('bench_dropped_total', s.counts.dropped);
  for (const [status, n] of Object.entries(s.by_status)) counter('bench_responses_total', n, { http_status: status });
  for (const [code, n] of Object.entries(s.by_twirp_code)) {
    counter('bench_twirp_responses_total', n, { twirp_code: code });
  }
  for (const [code, n] of Object.entries(s.by_error_code)) counter('bench_errors_total', n, { error_code: code });
  for (const b of s.latencyBuckets) {
    counter('bench_request_duration_seconds_bucket', b.count, { le: formatLe(b.le) });
  }
  counter('bench_request_duration_seconds_sum', s.latencySumSeconds);
  counter('bench_request_duration_seconds_count', s.latencyCount);
  gauge('bench_in_flight', s.inFlight);
  if (s.targetRate !== null && Number.isFinite(s.targetRate)) gauge('bench_target_rate', s.targetRate);
  gauge('bench_achieved_rate', s.achievedRate);
  for (const w of s.workers ?? []) {
    const worker = { worker: String(w.index) };
    counter('bench_worker_requests_sent_total', w.counts.sent, worker);
    outcomes('bench_worker_requests_total', w.counts, worker);
    gauge('bench_worker_in_flight', w.inFlight, worker);
    gauge('bench_worker_achieved_rate', w.achievedRate, worker);
  }
  return out.filter((p) => Number.isFinite(p.value));
}

interface StageState {
  info: StageInfo;
  label: string;
  snapshot: StageSnapshot | undefined;
  ended: boolean;
  /** staleness markers sent: the stage is finished for this output */
  closed: boolean;
  /** last value written per series key, to keep counters monotonic and to know what to mark stale */
  last: Map<string, { labels: Label[]; value: number }>;
}

interface Batch {
  series: TimeSeries[];
  samples: number;
}

const DEFAULT_INTERVAL_MS = 5000;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_QUEUED = 4;

function bounded(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined || v === 0) return dflt;
  if (!Number.isFinite(v) || v < 0) {
    throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_OPTIONS, `${name} must be a positive number, got ${v}`);
  }
  return Math.min(max, Math.max(min, Math.round(v)));
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return `timeout: ${err.message}`;
    if (cause?.code) return cause.code;
    return cause?.message ?? err.message;
  }
  return String(err);
}

export function prometheusRemoteWriteOutput(opts: PrometheusRemoteWriteOptions): PrometheusRemoteWriteOutput {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_OPTIONS, `--prometheus-rw: not a URL: ${JSON.stringify(opts.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RemoteWriteError(REMOTE_WRITE_ERROR_CODES.BAD_OPTIONS, `--prometheus-rw: must be http(s), got ${url.protocol}`);
  }
  // fetch refuses URLs with credentials: user:password in the URL becomes Basic auth (remote write receivers
  // behind a proxy often want it).
  const headers: Record<string, string> = { ...REMOTE_WRITE_HEADERS };
  if (url.username) {
    const creds = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.Authorization = `Basic ${Buffer.from(creds).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const intervalMs = bounded('intervalMs', opts.intervalMs, DEFAULT_INTERVAL_MS, 100, 60_000);
  const timeoutMs = bounded('timeoutMs', opts.timeoutMs, DEFAULT_TIMEOUT_MS, 100, 60_000);
  const maxQueued = bounded('maxQueuedBatches', opts.maxQueuedBatches, DEFAULT_MAX_QUEUED, 1, 100);
  const extraLabels: Label[] = [];
  /** run/profile/stage given as run labels: the run's own values win (they are what the dashboards select on). */
  const shadowed: Record<string, string> = {};
  for (const [name, value] of Object.entries(opts.runLabels ?? {})) {
    if (RUN_LABELS.has(name)) {
      shadowed[name] = String(value);
      continue;
    }
    if (SERIES_LABELS.has(name) || !LABEL_NAME_RE.test(name) || name.startsWith('__')) {
      throw new RemoteWriteError(
        REMOTE_WRITE_ERROR_CODES.BAD_OPTIONS,
        `run label ${JSON.stringify(name)} is not a valid label name or clashes with a metric's own label (${[...SERIES_LABELS].join(', ')})`,
      );
    }
    extraLabels.push({ name, value: String(value) });
  }
  const log = opts.logger ?? pino({ name: 'bench-prometheus-rw', level: 'info' }, pino.destination(2));

  let run: RunInfo | undefined;
  const stages = new Map<number, StageState>();
  const stats: RemoteWriteStats = { batchesSent: 0, batchesDropped: 0, samplesSent: 0, samplesDropped: 0, lastError: null };
  let lastTs = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let buildScheduled = false;

  const drop = (batch: Batch, why: string): void => {
    stats.batchesDropped++;
    stats.samplesDropped += batch.samples;
    // Log the first failure and every change of cause, not every batch: a down Prometheus must not flood stderr.
    if (stats.lastError !== why) log.warn({ url: url.href, error: why, dropped: stats.batchesDropped }, 'remote write batch dropped');
    stats.lastError = why;
  };

  const stageLabel = (info: StageInfo): string => {
    // Two stages with one name would write into one series and break counter monotonicity: tell them apart.
    const same = run?.stages.filter((s) => s.name === info.name).length ?? 1;
    return same > 1 ? `${info.name}#${info.index}` : info.name;
  };

  const stateOf = (info: StageInfo): StageState => {
    let st = stages.get(info.index);
    if (!st) {
      st = { info, label: stageLabel(info), snapshot: undefined, ended: false, closed: false, last: new Map() };
      stages.set(info.index, st);
    }
    return st;
  };

  /** One batch from the current state: one sample per live series, plus staleness markers for ended stages. */
  const build = (): Batch | undefined => {
    if (!run) return undefined;
    const ts = Math.max(Date.now(), lastTs + 1);
    let usedTs = ts;
    const series: TimeSeries[] = [];
    let samples = 0;
    for (const st of stages.values()) {
      if (st.closed) continue;
      if (st.snapshot) {
        for (const p of snapshotPoints(st.snapshot)) {
          const key = p.name + JSON.stringify(p.labels);
          const prev = st.last.get(key);
          // Counters never go down, whatever the snapshot says (a reset would read as a huge rate() spike).
          const value = p.counter && prev !== undefined && p.value < prev.value ? prev.value : p.value;
          const labels =
            prev?.labels ??
            normaliseLabels([
              { name: '__name__', value: p.name },
              { name: 'run', value: run.runId },
              { name: 'profile', value: run.profile },
              { name: 'stage', value: st.label },
              ...extraLabels,
              ...Object.entries(p.labels).map(([name, v]) => ({ name, value: v })),
            ]);
          st.last.set(key, { labels, value });
        }
      }
      for (const { labels, value } of st.last.values()) {
        const s: Sample[] = [{ value, timestampMs: ts }];
        if (st.ended) {
          s.push({ value: 'stale', timestampMs: ts + 1 });
          usedTs = ts + 1;
        }
        series.push({ labels, samples: s });
        samples += s.length;
      }
      if (st.ended) st.closed = true;
    }
    lastTs = usedTs;
    return series.length > 0 ? { series, samples } : undefined;
  };

  const send = async (batch: Batch, stopSignal: AbortSignal): Promise<void> => {
    let body: Uint8Array;
    try {
      body = encodeRemoteWriteBody(batch.series);
    } catch (err) {
      drop(batch, describeError(err));
      return;
    }
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([stopSignal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) {
        stats.batchesSent++;
        stats.samplesSent += batch.samples;
      } else {
        drop(batch, `HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
      }
    } catch (err) {
      drop(batch, describeError(err));
    }
  };

  // The newest batch carries the freshest counters, so a full queue loses its oldest.
  const sender = new BackgroundSender<Batch>({ maxQueued, whenFull: 'drop-oldest', send, drop });

  const enqueue = (): void => {
    let batch: Batch | undefined;
    try {
      batch = build();
    } catch (err) {
      // A bad series is a bug in this file or a bad label from the caller; the run goes on without the push.
      stats.lastError = describeError(err);
      log.warn({ error: stats.lastError }, 'remote write batch could not be built');
      return;
    }
    if (!batch) return;
    sender.push(batch, 'queue full: Prometheus is slower than the push interval');
  };

  /** A push on the next turn of the event loop, off the runner's hot path; one however often it is asked for. */
  const pushSoon = (): void => {
    if (buildScheduled) return;
    buildScheduled = true;
    setImmediate(() => {
      buildScheduled = false;
      enqueue();
    });
  };

  return {
    name: 'prometheus',

    async start(info: RunInfo): Promise<void> {
      run = info;
      const own: Record<string, string> = { run: info.runId, profile: info.profile };
      for (const [name, value] of Object.entries(shadowed)) {
        if (own[name] !== value) log.warn({ label: name, given: value, used: own[name] ?? 'the stage name' }, 'run label ignored: the run sets it');
      }
      timer = setInterval(enqueue, intervalMs);
      timer.unref();
    },

    add(event: BenchEvent): void {
      try {
        if (!run || stopping || event.type === 'warmup') return;
        const st = stateOf(event.stage);
        if (event.type === 'tick') {
          // A stage's first figures go out at once: a stage shorter than the push interval would otherwise have
          // one sample at its end, a millisecond before its staleness marker, and draw no line in a range query.
          if (!st.snapshot) pushSoon();
          st.snapshot = event.snapshot;
        } else if (event.type === 'stage-end') {
          st.ended = true;
          // The result has the stage's final counts (the last tick can be up to a second old); latency buckets
          // only come with ticks, so those stay as the last tick had them.
          const r = event.result;
          if (st.snapshot && r?.counts) {
            st.snapshot = {
              ...st.snapshot,
              counts: r.counts,
              by_status: r.by_status ?? st.snapshot.by_status,
              by_twirp_code: r.by_twirp_code ?? st.snapshot.by_twirp_code,
              by_error_code: r.by_error_code ?? st.snapshot.by_error_code,
              inFlight: 0,
            };
          }
          // Push the stage's final values (and its staleness markers) now, off the hot path.
          pushSoon();
        }
      } catch {
        // never throw into the runner
      }
    },

    async stop(_summary: Summary): Promise<string[]> {
      if (stopping) return [];
      stopping = true;
      if (timer) clearInterval(timer);
      for (const st of stages.values()) st.ended = true;
      enqueue();
      // Bounded: wait for the queue to drain, at most twice the request timeout, then abort what is left.
      await sender.drain(2 * timeoutMs);
      const tally = { url: url.href, ...stats };
      if (stats.batchesDropped === 0) {
        log.info(tally, 'remote write finished');
        return [];
      }
      log.warn(tally, 'remote write finished with dropped batches');
      return [`${stats.batchesDropped} of ${stats.batchesSent + stats.batchesDropped} batches (${stats.samplesDropped} samples) ` +
        `were not delivered to ${url.href} (last error: ${stats.lastError})`];
    },

    stats(): RemoteWriteStats {
      return { ...stats };
    },
  };
}
