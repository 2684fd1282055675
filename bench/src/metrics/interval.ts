// What happened in one slice of a stage (about a second, and the stage's last part): the common currency of the
// per-second timeline, the distributed merge and the report. The stage recorder produces intervals as deltas;
// a stage's totals are exactly the sum of its intervals (counts added, HDR histograms merged with `add`, worst
// requests merged by rank), so figures from N worker processes add up to those of one process.
// Wire form: histograms as hdr-histogram-js compressed base64 (`encodeIntoCompressedBase64`).
import * as hdr from 'hdr-histogram-js';
import type { Counts } from '../types';

export type Histogram = hdr.Histogram;

/** One request kept as evidence (the slowest, or among the first failed), as written into summary.json. */
export interface WorstRequest {
  /** ms from the stage start: the intended start in the open model, the send in the closed model */
  at_ms: number;
  latency_ms: number;
  /** HTTP status; 0 when no answer came (socket error, timeout) */
  status: number;
  /** Twirp code of the answer (`ok` for 2xx), null when no answer came */
  twirp_code: string | null;
  /** socket error code, or BENCH_REQUEST_TIMEOUT; null for an answer */
  error_code: string | null;
  /** W3C trace id the request carried (32 hex), so the trace can be looked up in the APM */
  trace_id: string;
  /** whether the request's traceparent asked the service to trace it */
  sampled: boolean;
}

export interface WorstRequests {
  /** slowest answered requests, slowest first */
  slowest: WorstRequest[];
  /** first failed requests (non-2xx, socket error, timeout), earliest first */
  failed: WorstRequest[];
}

export interface Interval {
  /** stage index */
  stage: number;
  /** offsets from the stage's start, ms */
  t0Ms: number;
  t1Ms: number;
  /** deltas over the interval */
  counts: Counts;
  /** open model: arrivals due in the interval (sent + dropped + still queued); closed: = sent */
  scheduled: number;
  /** requests in flight at t1 */
  inFlight: number;
  /** open: the target rate at t1; closed: null */
  targetRate: number | null;
  byStatus: Record<string, number>;
  byTwirpCode: Record<string, number>;
  byErrorCode: Record<string, number>;
  /** microseconds; closed: send -> answer; open: intended start -> answer */
  latency: Histogram;
  /** open model: actual write -> answer (microseconds) */
  serviceTime: Histogram | null;
  /** open model: how late each arrival was written vs its slot (microseconds): the generator's own lag */
  scheduleLagUs?: Histogram | null;
  /** the interval's slowest and first failed requests (at most the recorder's N of each) */
  worst?: WorstRequests;
}

/** The JSON form of an Interval (histograms encoded). */
export interface WireInterval extends Omit<Interval, 'latency' | 'serviceTime' | 'scheduleLagUs'> {
  latency: string;
  serviceTime: string | null;
  scheduleLagUs?: string | null;
}

/** One hour in microseconds: the highest value a latency histogram tracks (larger values are clamped). */
export const MAX_TRACKABLE_US = 3_600_000_000;

/** A microsecond histogram as every part of the bench builds it (3 significant digits, 1 µs .. 1 h). */
export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    useWebAssembly: false,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });
}

export function emptyCounts(): Counts {
  return { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 };
}

export function encodeInterval(iv: Interval): WireInterval {
  const { latency, serviceTime, scheduleLagUs, ...rest } = iv;
  const out: WireInterval = {
    ...rest,
    latency: hdr.encodeIntoCompressedBase64(latency),
    serviceTime: serviceTime ? hdr.encodeIntoCompressedBase64(serviceTime) : null,
  };
  if (scheduleLagUs !== undefined) out.scheduleLagUs = scheduleLagUs ? hdr.encodeIntoCompressedBase64(scheduleLagUs) : null;
  return out;
}

export class IntervalDecodeError extends Error {
  readonly code = 'BENCH_INTERVAL_INVALID';
}

export function decodeInterval(w: WireInterval): Interval {
  const dec = (s: string, what: string): Histogram => {
    try {
      // decoded into the same 32-bit layout as newHistogram(), so `add` between the two is exact
      const h = newHistogram();
      h.add(hdr.decodeFromCompressedBase64(s, 32, false));
      return h;
    } catch (e) {
      throw new IntervalDecodeError(`interval ${w.stage}/${w.t0Ms}: ${what} histogram does not decode: ${(e as Error).message}`);
    }
  };
  const { latency, serviceTime, scheduleLagUs, ...rest } = w;
  const out: Interval = {
    ...rest,
    latency: dec(latency, 'latency'),
    serviceTime: serviceTime ? dec(serviceTime, 'serviceTime') : null,
  };
  if (scheduleLagUs !== undefined) out.scheduleLagUs = scheduleLagUs ? dec(scheduleLagUs, 'scheduleLagUs') : null;
  return out;
}

export function addCounts(into: Counts, from: Counts): void {
  into.sent += from.sent;
  into.completed += from.completed;
  into.ok += from.ok;
  into.errors += from.errors;
  into.timeouts += from.timeouts;
  into.dropped += from.dropped;
}

export function addRecord(into: Record<string, number>, from: Record<string, number>): void {
  for (const k of Object.keys(from)) into[k] = (into[k] ?? 0) + from[k];
}

/** Slowest first; ties broken by time so a merge is deterministic whatever the order of its inputs. */
export function bySlowest(a: WorstRequest, b: WorstRequest): number {
  return b.latency_ms - a.latency_ms || a.at_ms - b.at_ms || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0);
}

/** Earliest first. */
export function byEarliest(a: WorstRequest, b: WorstRequest): number {
  return a.at_ms - b.at_ms || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0);
}

/** Merges worst lists keeping the `n` slowest and the `n` earliest failures. */
export function mergeWorst(parts: (WorstRequests | undefined)[], n: number): WorstRequests {
  const slowest: WorstRequest[] = [];
  const failed: WorstRequest[] = [];
  for (const p of parts) {
    if (!p) continue;
    slowest.push(...p.slowest);
    failed.push(...p.failed);
  }
  return { slowest: slowest.sort(bySlowest).slice(0, n), failed: failed.sort(byEarliest).slice(0, n) };
}

/**
 * Adds `from` into `into` (same stage): counts and maps add, histograms merge, the time span widens, the
 * point-in-time figures (inFlight, targetRate) follow the later end. Used to merge workers' intervals of the
 * same slice, and to total a stage.
 */
export function addInterval(into: Interval, from: Interval, worstN = 20): void {
  addCounts(into.counts, from.counts);
  into.scheduled += from.scheduled;
  if (from.t1Ms === into.t1Ms) {
    // the same slice from another worker: its share of the target and of what is in flight adds up
    into.inFlight += from.inFlight;
    into.targetRate = into.targetRate === null && from.targetRate === null ? null : (into.targetRate ?? 0) + (from.targetRate ?? 0);
  } else if (from.t1Ms > into.t1Ms) {
    // a later slice: the point-in-time figures are its own
    into.inFlight = from.inFlight;
    into.targetRate = from.targetRate;
  }
  into.t0Ms = Math.min(into.t0Ms, from.t0Ms);
  into.t1Ms = Math.max(into.t1Ms, from.t1Ms);
  addRecord(into.byStatus, from.byStatus);
  addRecord(into.byTwirpCode, from.byTwirpCode);
  addRecord(into.byErrorCode, from.byErrorCode);
  into.latency.add(from.latency);
  if (from.serviceTime) {
    if (into.serviceTime) into.serviceTime.add(from.serviceTime);
    else {
      into.serviceTime = newHistogram();
      into.serviceTime.add(from.serviceTime);
    }
  }
  if (from.scheduleLagUs) {
    if (into.scheduleLagUs) into.scheduleLagUs.add(from.scheduleLagUs);
    else {
      into.scheduleLagUs = newHistogram();
      into.scheduleLagUs.add(from.scheduleLagUs);
    }
  }
  if (from.worst || into.worst) into.worst = mergeWorst([into.worst, from.worst], worstN);
}

/** An empty interval to add others into. */
export function emptyInterval(stage: number, model: 'open' | 'closed', atMs = 0): Interval {
  return {
    stage, t0Ms: atMs, t1Ms: atMs, counts: emptyCounts(), scheduled: 0, inFlight: 0, targetRate: null,
    byStatus: {}, byTwirpCode: {}, byErrorCode: {},
    latency: newHistogram(), serviceTime: model === 'open' ? newHistogram() : null,
    ...(model === 'open' ? { scheduleLagUs: newHistogram() } : {}),
    worst: { slowest: [], failed: [] },
  };
}
