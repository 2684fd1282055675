// Per-stage recording shared by both executors: counts, answers by HTTP status and Twirp code, socket errors by
// code, bytes, and microsecond latency histograms. Executors call the `on*` methods on their hot path (no
// allocation beyond a map entry the first time a status or code is seen); the run calls `snapshot()` about once
// a second and `result()` once at the end.
//
// Counting rules (every sent request ends in exactly one of these, or is still in flight):
//   completed = answered with any HTTP status; ok = answered 2xx;
//   errors    = answered non-2xx + failed on the socket + timed out (so error_rate = errors / sent);
//   timeouts  = no answer within the request timeout; dropped = never sent (open model: maxInFlight reached).
import type { Counts, LatencySummary, Model, StageResult, StageSnapshot } from '../types';
import { LatencyHistogram } from './latency-histogram';

export interface StageRecorderOptions {
  name: string;
  model: Model;
  /** performance.now() at the stage's start (defaults to construction time). */
  startedAt?: number;
}

export class StageRecorder {
  readonly name: string;
  readonly model: Model;
  readonly startedAtWall: number;
  private readonly startedAt: number;
  private endedAt: number | null = null;

  readonly counts: Counts = { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 };
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

  constructor(opts: StageRecorderOptions) {
    this.name = opts.name;
    this.model = opts.model;
    this.startedAt = opts.startedAt ?? performance.now();
    this.startedAtWall = Date.now() - (performance.now() - this.startedAt);
    this.serviceTime = opts.model === 'open' ? new LatencyHistogram() : null;
  }

  onSent(bytes: number): void {
    this.counts.sent++;
    this.bytesSent += bytes;
  }

  /**
   * One answer. `latencyUs` per the model (see `latency`); `serviceUs` only in the open model.
   * `twirpCode` is `ok` for 2xx, else the code from the error body (see twirp-code.ts).
   */
  onResponse(status: number, twirpCode: string, bytesReceived: number, latencyUs: number, serviceUs?: number): void {
    this.counts.completed++;
    if (status >= 200 && status < 300) this.counts.ok++;
    else this.counts.errors++;
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
    this.byTwirpCode.set(twirpCode, (this.byTwirpCode.get(twirpCode) ?? 0) + 1);
    this.bytesReceived += bytesReceived;
    this.latency.record(latencyUs);
    if (serviceUs !== undefined && this.serviceTime) this.serviceTime.record(serviceUs);
  }

  /**
   * A socket-level error (ECONNRESET, ECONNREFUSED, ...). `failedRequest` says whether a sent request was lost
   * with it (counted in `errors`); an error on an idle connection is only counted by code.
   */
  onSocketError(code: string, failedRequest: boolean): void {
    this.byErrorCode.set(code, (this.byErrorCode.get(code) ?? 0) + 1);
    if (failedRequest) {
      this.counts.errors++;
      this.socketFailures++;
    }
  }

  onTimeout(): void {
    this.counts.timeouts++;
    this.counts.errors++;
  }

  onDropped(): void {
    this.counts.dropped++;
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

  /** Cumulative figures since the start; cheap enough for once a second (a few HDR percentile walks). */
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

  /**
   * The stage's result (without `server`, which the run adds). `targetRate` is the stage's mean target
   * (open model) or null (closed model). Ends the stage clock if not ended yet.
   */
  result(targetRate: number | null): StageResult {
    this.end();
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
    };
    if (this.serviceTime) out.service_time_ms = this.serviceTime.summary();
    return out;
  }

  /** Frees the histograms (a no-op for the JS implementation, kept so a WASM switch stays leak-free). */
  destroy(): void {
    this.latency.destroy();
    this.serviceTime?.destroy();
  }
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
