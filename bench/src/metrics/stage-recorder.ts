// Per-stage recording shared by both executors: counts, answers by HTTP status and Twirp code, socket errors by
// code, bytes, microsecond latency histograms, and the worst requests as evidence. Executors call the `on*`
// methods on their hot path (no allocation beyond a map entry the first time a status or code is seen, and a
// kept request's strings: the few slowest and first failed); about once a second and once at the stage's end
// they call `interval()`, which cuts what happened since the previous one (interval.ts: deltas; the stage's
// totals are exactly their sum); `snapshot()` and `result()` read the totals.
//
// Counting rules (every sent request ends in exactly one of these, or is still in flight):
//   completed = answered with any HTTP status; ok = answered 2xx;
//   errors    = answered non-2xx + failed on the socket + timed out (so error_rate = errors / sent);
//   timeouts  = no answer within the request timeout; dropped = never sent (open model: maxInFlight reached).
import type { Counts, LatencySummary, Model, StageResult, StageSnapshot } from '../types';
import { LatencyHistogram, round3 } from './latency-histogram';
import { byEarliest, emptyCounts, mergeWorst, type Interval, type WorstRequest, type WorstRequests } from './interval';

/** Slowest and first failed requests kept per interval and per stage, unless a stage says otherwise. */
export const DEFAULT_WORST_N = 20;
/** Error code of a request that got no answer within the request timeout. */
export const TIMEOUT_CODE = 'BENCH_REQUEST_TIMEOUT';

/**
 * What an executor knows about one request beyond its timing, read only when the request is kept as one of
 * the worst (so the trace id string is made for a few requests a second, not for all of them).
 */
export interface RequestEvidence {
  /** the 32 hex digits of the W3C trace id the request carried */
  traceId(): string;
  /** the traceparent's sampled flag */
  sampled(): boolean;
}

export interface StageRecorderOptions {
  name: string;
  model: Model;
  /** the stage's index in its profile (intervals carry it) */
  index?: number;
  /** performance.now() at the stage's start (defaults to construction time). */
  startedAt?: number;
  /** how many slowest and first failed requests to keep (default DEFAULT_WORST_N, 0..1000) */
  worstN?: number;
}

export class StageRecorder {
  readonly name: string;
  readonly model: Model;
  readonly index: number;
  readonly startedAtWall: number;
  private readonly startedAt: number;
  private endedAt: number | null = null;

  readonly counts: Counts = emptyCounts();
  /** requests that ended without an answer on a socket error (part of `errors`) */
  private socketFailures = 0;
  /** requests abandoned in flight when the stage ended (neither completed nor failed) */
  private abandoned = 0;
  private readonly byStatus = new Map<number, number>();
  private readonly byTwirpCode = new Map<string, number>();
  private readonly byErrorCode = new Map<string, number>();
  private bytesSent = 0;
  private bytesReceived = 0;

  /** Closed model: send-to-answer. Open model: intended-start-to-answer (wrk2). */
  readonly latency = new LatencyHistogram();
  /** Open model only: actual-send-to-answer. */
  readonly serviceTime: LatencyHistogram | null;
  /** Open model only: how late each arrival was written after its slot (the generator's own lag). */
  readonly scheduleLag: LatencyHistogram | null;

  // the worst requests of the current interval and of the stage so far (intervals merged in)
  private readonly worstN: number;
  private slow: WorstRequest[] = [];
  /** latency (µs) a request must exceed to join `slow` once it is full */
  private slowFloorUs = -1;
  private failed: WorstRequest[] = [];
  private stageWorst: WorstRequests = { slowest: [], failed: [] };

  // where the previous interval ended
  private ivStartMs = 0;
  private readonly ivCounts: Counts = emptyCounts();
  private ivScheduled = 0;
  private readonly ivByStatus = new Map<number, number>();
  private readonly ivByTwirp = new Map<string, number>();
  private readonly ivByError = new Map<string, number>();
  private intervals = 0;
  /** latency values recorded up to the last cut */
  private takenLatency = 0;

  constructor(opts: StageRecorderOptions) {
    this.name = opts.name;
    this.model = opts.model;
    this.index = opts.index ?? 0;
    this.startedAt = opts.startedAt ?? performance.now();
    this.startedAtWall = Date.now() - (performance.now() - this.startedAt);
    this.serviceTime = opts.model === 'open' ? new LatencyHistogram() : null;
    this.scheduleLag = opts.model === 'open' ? new LatencyHistogram() : null;
    const n = opts.worstN ?? DEFAULT_WORST_N;
    this.worstN = Number.isInteger(n) && n >= 0 ? Math.min(n, 1000) : DEFAULT_WORST_N;
  }

  onSent(bytes: number): void {
    this.counts.sent++;
    this.bytesSent += bytes;
  }

  /** Bytes written for a request counted as sent before (the open model writes when a connection is free). */
  onBytesSent(bytes: number): void {
    this.bytesSent += bytes;
  }

  /**
   * One answer. `latencyUs` per the model (see `latency`); `serviceUs` only in the open model. `twirpCode` is
   * `ok` for 2xx, else the code from the error body (see twirp-code.ts). `atMs` (ms from the stage start: the
   * intended start in the open model, the send in the closed one) and `ev` let the request be kept as evidence.
   */
  onResponse(
    status: number, twirpCode: string, bytesReceived: number, latencyUs: number, serviceUs?: number,
    atMs = 0, ev?: RequestEvidence,
  ): void {
    this.counts.completed++;
    const ok = status >= 200 && status < 300;
    if (ok) this.counts.ok++;
    else this.counts.errors++;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    this.byTwirpCode.set(twirpCode, (this.byTwirpCode.get(twirpCode) ?? 0) + 1);
    this.bytesReceived += bytesReceived;
    this.latency.record(latencyUs);
    if (serviceUs !== undefined && this.serviceTime) this.serviceTime.record(serviceUs);
    if (ev === undefined) return;
    if (latencyUs > this.slowFloorUs && this.worstN > 0) this.keepSlow(atMs, latencyUs, status, twirpCode, null, ev);
    if (!ok && this.failed.length < this.worstN) this.keepFailed(atMs, latencyUs, status, twirpCode, null, ev);
  }

  /**
   * A socket-level error (ECONNRESET, ECONNREFUSED, ...). `failedRequest` says whether a sent request was lost
   * with it (counted in `errors`); an error on an idle connection is only counted by code.
   */
  onSocketError(code: string, failedRequest: boolean, atMs = 0, latencyUs = 0, ev?: RequestEvidence): void {
    this.byErrorCode.set(code, (this.byErrorCode.get(code) ?? 0) + 1);
    if (failedRequest) {
      this.counts.errors++;
      this.socketFailures++;
      if (ev !== undefined && this.failed.length < this.worstN) this.keepFailed(atMs, latencyUs, 0, null, code, ev);
    }
  }

  onTimeout(atMs = 0, latencyUs = 0, ev?: RequestEvidence): void {
    this.counts.timeouts++;
    this.counts.errors++;
    if (ev !== undefined && this.failed.length < this.worstN) this.keepFailed(atMs, latencyUs, 0, null, TIMEOUT_CODE, ev);
  }

  onDropped(): void {
    this.counts.dropped++;
  }

  /** Open model: an arrival was written `us` after its slot in the schedule. */
  onScheduleLag(us: number): void {
    this.scheduleLag?.record(us);
  }

  /** Requests still in flight abandoned when the stage ended (closed model: one per connection, at most). */
  onAbandoned(n: number): void {
    this.abandoned += n;
  }

  get inFlight(): number {
    return Math.max(0, this.counts.sent - this.counts.completed - this.socketFailures - this.counts.timeouts - this.abandoned);
  }

  /** Freezes the stage clock (rates are per stage duration from here on). */
  end(at: number = performance.now()): void {
    if (this.endedAt === null) this.endedAt = at;
  }

  elapsedMs(now: number = performance.now()): number {
    return (this.endedAt ?? now) - this.startedAt;
  }

  /** Answers per second of stage time so far. */
  achievedRate(now: number = performance.now()): number {
    const s = this.elapsedMs(now) / 1000;
    return s > 0 ? round2(this.counts.completed / s) : 0;
  }

  /** Intervals cut so far. */
  get intervalCount(): number {
    return this.intervals;
  }

  /**
   * Cuts the interval since the previous one (or the stage start) at `now` and returns it; its histograms are
   * the caller's from here on. `targetRate`: the open model's target at `now` (null for the closed model).
   * `scheduledTotal`: the open model's arrivals due since the stage start (its delta becomes `scheduled`); the
   * closed model's `scheduled` is what it sent.
   */
  interval(now: number = performance.now(), targetRate: number | null = null, scheduledTotal?: number): Interval {
    const t1 = Math.max(this.ivStartMs, now - this.startedAt);
    const c = this.counts;
    const d = this.ivCounts;
    const counts: Counts = {
      sent: c.sent - d.sent, completed: c.completed - d.completed, ok: c.ok - d.ok,
      errors: c.errors - d.errors, timeouts: c.timeouts - d.timeouts, dropped: c.dropped - d.dropped,
    };
    Object.assign(d, c);
    const scheduledNow = scheduledTotal ?? c.sent;
    const scheduled = Math.max(0, scheduledNow - this.ivScheduled);
    this.ivScheduled = Math.max(this.ivScheduled, scheduledNow);
    const worst: WorstRequests = { slowest: this.slow, failed: this.failed.sort(byEarliest) };
    this.stageWorst = mergeWorst([this.stageWorst, worst], this.worstN);
    this.slow = [];
    this.failed = [];
    this.slowFloorUs = -1;
    const iv: Interval = {
      stage: this.index,
      t0Ms: round3(this.ivStartMs),
      t1Ms: round3(t1),
      counts,
      scheduled,
      inFlight: this.inFlight,
      targetRate,
      byStatus: deltaRecord(this.byStatus, this.ivByStatus),
      byTwirpCode: deltaRecord(this.byTwirpCode, this.ivByTwirp),
      byErrorCode: deltaRecord(this.byErrorCode, this.ivByError),
      latency: this.latency.takeInterval(),
      serviceTime: this.serviceTime ? this.serviceTime.takeInterval() : null,
      worst,
    };
    if (this.scheduleLag) iv.scheduleLagUs = this.scheduleLag.takeInterval();
    this.ivStartMs = t1;
    this.intervals++;
    this.takenLatency = this.latency.count;
    return iv;
  }

  /**
   * Cumulative figures since the start; cheap enough for once a second (a few HDR percentile walks). Latency
   * percentiles cover the intervals cut so far (executors cut one right before each snapshot); the buckets,
   * sum and count cover every answer.
   */
  snapshot(targetRate: number | null, now: number = performance.now()): StageSnapshot {
    return {
      elapsedMs: Math.round(this.elapsedMs(now)),
      counts: { ...this.counts },
      inFlight: this.inFlight,
      targetRate,
      achievedRate: this.achievedRate(now),
      by_status: mapToRecord(this.byStatus),
      by_twirp_code: mapToRecord(this.byTwirpCode),
      by_error_code: mapToRecord(this.byErrorCode),
      latency_ms: this.latency.summary(),
      latencyBuckets: this.latency.cumulativeBuckets(),
      latencySumSeconds: this.latency.sumSeconds,
      latencyCount: this.latency.count,
    };
  }

  /** The stage's worst requests over the intervals cut so far. */
  worst(): WorstRequests {
    return { slowest: [...this.stageWorst.slowest], failed: [...this.stageWorst.failed] };
  }

  /**
   * The stage's result (without `server`, which the run adds). `targetRate` is the stage's mean target
   * (open model) or null (closed model). Ends the stage clock if not ended yet. Cut the last interval first:
   * the result covers the intervals cut (an executor's last one follows the settling of its requests).
   */
  result(targetRate: number | null): StageResult {
    this.end();
    // anything recorded since the last cut joins the totals (an executor cuts its last interval itself, to pass it on)
    if (this.latency.count !== this.takenLatency || !sameCounts(this.counts, this.ivCounts)) this.interval();
    const durationMs = this.elapsedMs();
    const out: StageResult = {
      name: this.name,
      model: this.model,
      started_at: new Date(this.startedAtWall).toISOString(),
      ended_at: new Date(this.startedAtWall + durationMs).toISOString(),
      duration_ms: Math.round(durationMs),
      counts: { ...this.counts },
      rate: { target: targetRate === null ? null : round2(targetRate), achieved: this.achievedRate() },
      latency_ms: this.latency.summary(),
      by_status: mapToRecord(this.byStatus),
      by_twirp_code: mapToRecord(this.byTwirpCode),
      by_error_code: mapToRecord(this.byErrorCode),
      bytes: { sent: this.bytesSent, received: this.bytesReceived },
      worst: this.worst(),
    };
    if (this.serviceTime) out.service_time_ms = this.serviceTime.summary();
    out.latency_hdr = this.latency.encode();
    if (this.serviceTime) out.service_time_hdr = this.serviceTime.encode();
    return out;
  }

  /** Frees the histograms (a no-op for the JS implementation, kept so a WASM switch stays leak-free). */
  destroy(): void {
    this.latency.destroy();
    this.serviceTime?.destroy();
    this.scheduleLag?.destroy();
  }

  private keepSlow(atMs: number, latencyUs: number, status: number, twirp: string | null, err: string | null, ev: RequestEvidence): void {
    const r = evidence(atMs, latencyUs, status, twirp, err, ev);
    const s = this.slow;
    // sorted slowest first; N is small, so an insertion is a short shift
    let i = s.length;
    while (i > 0 && latencyUs > s[i - 1].latency_ms * 1000) i--;
    s.splice(i, 0, r);
    if (s.length > this.worstN) s.pop();
    if (s.length === this.worstN) this.slowFloorUs = s[s.length - 1].latency_ms * 1000;
  }

  private keepFailed(atMs: number, latencyUs: number, status: number, twirp: string | null, err: string | null, ev: RequestEvidence): void {
    this.failed.push(evidence(atMs, latencyUs, status, twirp, err, ev));
  }
}

function evidence(atMs: number, latencyUs: number, status: number, twirp: string | null, err: string | null, ev: RequestEvidence): WorstRequest {
  return {
    at_ms: round3(atMs), latency_ms: round3(latencyUs / 1000), status, twirp_code: twirp, error_code: err,
    trace_id: ev.traceId(), sampled: ev.sampled(),
  };
}

function sameCounts(a: Counts, b: Counts): boolean {
  return a.sent === b.sent && a.completed === b.completed && a.errors === b.errors && a.timeouts === b.timeouts && a.dropped === b.dropped;
}

function deltaRecord<K extends string | number>(now: Map<K, number>, last: Map<K, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of now) {
    const d = v - (last.get(k) ?? 0);
    if (d !== 0) out[String(k)] = d;
    last.set(k, v);
  }
  return out;
}

function mapToRecord<K extends string | number>(m: Map<K, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of m) out[String(k)] = v;
  return out;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export type { LatencySummary };
