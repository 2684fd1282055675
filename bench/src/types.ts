// The bench's shared shapes: what a profile says, what a stage produces, and what outputs receive.
// Keys of the result objects are snake_case because they are written verbatim into summary.json.
import type { Interval, WorstRequests } from './metrics/interval';
import type { GeneratorStats } from './metrics/generator-watch';
import type { WarmupSummary } from './warmup';
import type { ServerTimelineEntry, StagePeaks } from './target/server-timeline';
import type { ServerTime } from './target/server-time';
import type { Diagnosis, TimelineEntry } from './diagnosis/evidence';
import type { Outage } from './diagnosis/outage';

export type Model = 'closed' | 'open';

/** A threshold expression ("p99 < 50ms") parsed once, when the profile is validated (metrics/thresholds.ts). */
export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';

export type MetricRef =
  | { kind: 'latency'; key: keyof LatencySummary; service: boolean }
  | { kind: 'count'; key: keyof Counts }
  | { kind: 'rate'; key: 'error_rate' | 'timeout_rate' | 'dropped_rate' }
  | { kind: 'achieved_rate'; ofTarget: boolean }
  | { kind: 'keyed'; family: 'status' | 'twirp' | 'socket'; key: string }
  | { kind: 'disagreements' };

export interface Threshold {
  expr: string;
  metric: MetricRef;
  op: Op;
  /** In the metric's canonical unit: milliseconds, fractions (0.01 = 1%), requests per second or counts. */
  value: number;
}

/**
 * One stage of a profile, after validation (profiles/validate.ts): durations in milliseconds, thresholds parsed,
 * and every field within its bounds, so executors take it as it is.
 */
export interface StageSpec {
  name: string;
  durationMs: number;
  model: Model;
  /** closed model: concurrent connections at the start of the stage. */
  connections?: number;
  /** open model: arrival rate in requests per second at the start of the stage. */
  rate?: number;
  /** Linear ramp of `connections` or `rate` to this value by the end of the stage. */
  rampTo?: number;
  /** open model: cap on requests in flight; an arrival beyond it is counted as dropped (always set by validation). */
  maxInFlight?: number;
  /**
   * open model: cap on connections (each carries one request at a time; arrivals beyond them wait, within
   * maxInFlight). Always set by validation: maxInFlight, at most 1000.
   */
  maxConnections?: number;
  /** Thresholds that apply to this stage only, e.g. "p99 < 50ms". */
  thresholds: Threshold[];
}

/** How request bodies are drawn. Seeded, so two runs with the same seed send the same sequence. */
export interface RequestSpec {
  properties: string[];
  /** section is drawn uniformly from 1..sections */
  sections: number;
  /** id is drawn uniformly from 1..ids */
  ids: number;
  /** share (0..1) of requests that are deliberately invalid (the service must answer invalid_argument). */
  invalidShare: number;
  seed: number;
  contentType: 'json' | 'protobuf';
  /** per-request timeout; a request that exceeds it counts as a timeout, not as ok. */
  timeoutMs: number;
  /**
   * share (0..1) of requests whose `traceparent` carries the sampled flag. A tracing service honours the flag, so
   * this is the share of bench requests it traces (default: DEFAULT_TRACE_SAMPLE_RATE in profiles/limits.ts).
   */
  traceSampleRate: number;
}

export interface Profile {
  name: string;
  description: string;
  stages: StageSpec[];
  /** Thresholds evaluated against every stage (and the run as a whole where it makes sense). */
  thresholds: Threshold[];
  /** Stop the run as soon as a threshold fails at the end of a stage. */
  abortOnFail: boolean;
  request: RequestSpec;
  /** breakpoint profiles: report the highest rate whose stage held every threshold. */
  breakpoint: boolean;
  /** --ceiling: the rate a breakpoint profile's steps climb to (profiles/ceiling.ts). */
  ceiling?: number;
}

export interface Counts {
  sent: number;
  completed: number;
  ok: number;
  errors: number;
  timeouts: number;
  dropped: number;
}

/** Milliseconds, with microsecond resolution (never rounded to whole ms). */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The server's own view of a stage, read from its /metrics before and after the stage (deltas). */
export interface ServerStageCounts {
  requests: number;
  by_twirp_code: Record<string, number>;
  /** rows in `incoming` written during the stage, when the bench can reach the database. */
  rows_written?: number;
  /** of those, rows that repeat another row's idempotency key (a Push stored twice; 0 when all is well). */
  rows_duplicated?: number;
  /** Human-readable disagreements between client and server counts (empty when they agree). */
  disagreements: string[];
  /** Any other server-side figures worth putting next to the client's (pool, batches, ...). */
  extra?: Record<string, number>;
}

export interface StageResult {
  name: string;
  model: Model;
  started_at: string;
  ended_at: string;
  duration_ms: number;
  counts: Counts;
  rate: { target: number | null; achieved: number };
  /** Closed model: time from send to response. Open model: from the request's intended start (wrk2). */
  latency_ms: LatencySummary;
  /** Open model only: time from actual send to response. */
  service_time_ms?: LatencySummary;
  by_status: Record<string, number>;
  by_twirp_code: Record<string, number>;
  by_error_code: Record<string, number>;
  bytes: { sent: number; received: number };
  /** The slowest answered requests and the first failed ones, with their trace ids (metrics/interval.ts). */
  worst?: WorstRequests;
  /** The bench's own behaviour during the stage (metrics/generator-watch.ts): was it able to keep up? */
  generator?: GeneratorStats;
  server?: ServerStageCounts;
  /** The stage's latency histogram (microseconds), hdr-histogram-js `encodeIntoCompressedBase64`: the report's percentile spectrum. */
  latency_hdr?: string;
  /** Open model: the service-time histogram, encoded the same way. */
  service_time_hdr?: string;
  /** The service's side per /metrics scrape during the stage (target/server-timeline.ts). */
  server_timeline?: ServerTimelineEntry[];
  /** Flush time, pool acquire wait and rows per flush from the service's histogram deltas (target/server-time.ts). */
  server_time?: ServerTime;
  /** High-water marks over the stage with the capacity beside each (the service's per-window peak gauges). */
  peaks?: StagePeaks;
  /** A cause per stage: one sentence per rule that found something (diagnosis/). */
  diagnosis?: Diagnosis[];
  /** One entry per interval (about a second): the client's side over time (metrics/stage-timeline.ts). */
  timeline?: TimelineEntry[];
  /** When the stage had errors: when they began and ended, and how long it took to recover (diagnosis/outage.ts). */
  outage?: Outage;
}

export interface ThresholdResult {
  expr: string;
  /** stage name, or null for a run-level threshold */
  stage: string | null;
  value: number | null;
  passed: boolean;
  /** Why there is no value: "no answers" (a latency or rate bound over a stage nothing answered fails). */
  note?: string;
}

/** summary.json's format; a reader checks it before trusting any field (bench/src/report/load-summary.ts). */
export const SCHEMA_VERSION = 2;

export interface Summary {
  /** SCHEMA_VERSION when the bench wrote it (every RunSummary has it; absent in summaries from before it existed). */
  schema_version?: number;
  run_id: string;
  profile: string;
  target: string;
  /** `git rev-parse HEAD` of the bench's checkout, null when it is not a git checkout. */
  git_commit?: string | null;
  /** --kibana: the Kibana the service's traces go to; the report links trace ids to its APM trace view. */
  kibana_url?: string;
  started_at: string;
  ended_at: string;
  passed: boolean;
  aborted: boolean;
  thresholds: ThresholdResult[];
  stages: StageResult[];
  /** what the bench sent to warm itself up before the first stage (never part of a stage's figures) */
  warmup?: WarmupSummary;
  /** breakpoint profiles: the highest target rate whose stage held every threshold. */
  breakpoint?: {
    highest_rate_held: number | null;
    first_failed_stage: string | null;
    /** the first failing step's rate */
    first_failed_rate?: number | null;
    /** the highest rate the run asked for (the ceiling, with --ceiling) */
    top_rate?: number;
    ceiling?: number | null;
    /** false: every step held, no limit below top_rate */
    limit_found?: boolean;
    /** at the first failing step: who ran out first, the load generator (its own schedule lag) or the service */
    saturated?: 'generator' | 'service' | null;
    /** the verdict in words, as printed */
    text?: string;
  };
  /** --apm-ab: the same profile with APM off and on. */
  apm_ab?: Record<string, unknown>;
}

/** A stage as outputs see it. */
export interface StageInfo {
  index: number;
  name: string;
  model: Model;
  durationMs: number;
}

export interface RunInfo {
  runId: string;
  profile: string;
  target: string;
  startedAt: number;
  stages: StageInfo[];
}

/** Cumulative since the stage started; emitted about once a second and once at the stage's end. */
export interface StageSnapshot {
  elapsedMs: number;
  counts: Counts;
  inFlight: number;
  targetRate: number | null;
  achievedRate: number;
  by_status: Record<string, number>;
  by_twirp_code: Record<string, number>;
  by_error_code: Record<string, number>;
  latency_ms: LatencySummary;
  /** Prometheus-style cumulative buckets of the latency histogram; `le` in seconds, the last is +Inf. */
  latencyBuckets: { le: number; count: number }[];
  latencySumSeconds: number;
  latencyCount: number;
  /** distributed runs: each worker's own cumulative figures in the merged snapshot (a lagging generator shows) */
  workers?: WorkerSnapshot[];
}

/** One worker's part of a merged snapshot (distributed/coordinator.ts). */
export interface WorkerSnapshot {
  index: number;
  counts: Counts;
  inFlight: number;
  achievedRate: number;
}

export type BenchEvent =
  | { type: 'stage-start'; at: number; stage: StageInfo }
  | { type: 'tick'; at: number; stage: StageInfo; snapshot: StageSnapshot }
  /** about once a second and at the stage's end: what happened since the previous interval (metrics/interval.ts) */
  | { type: 'interval'; at: number; stage: StageInfo; interval: Interval }
  /** the process's warm-up before the first stage (warmup.ts), reported apart from every stage (its index is -1) */
  | { type: 'warmup'; at: number; stage: StageInfo; warmup: WarmupSummary }
  /** `thresholds`: the stage's judged thresholds (its own and the profile's) */
  | { type: 'stage-end'; at: number; stage: StageInfo; result: StageResult; thresholds?: ThresholdResult[] };

/**
 * Every output (console, json, prometheus remote write, grafana annotations, ...) implements this.
 * `add` is called on the runner's hot path: it must return at once and never throw; slow work is queued
 * (bounded) and done in the background. `stop` flushes and resolves within a bounded time, with what it could not
 * deliver (e.g. "12 of 40 batches were not delivered"), which joins summary.warnings.
 */
export interface Output {
  readonly name: string;
  /**
   * Set on the outputs that write or print the summary (summary.json, the console table): they are stopped after
   * every other output, so the summary they get is finished, the others' failures included.
   */
  readonly writesSummary?: boolean;
  start(run: RunInfo): Promise<void>;
  add(event: BenchEvent): void;
  stop(summary: Summary): Promise<void | string[]>;
}
