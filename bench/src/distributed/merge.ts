// The coordinator's merge of one stage: every worker's intervals added into the stage's totals (counts and maps
// add, HDR histograms `add`; percentiles are only ever read from the merged histogram, never averaged), and into
// a per-second timeline where the workers' intervals of the same second become one interval.
//
// A second is emitted once every worker still running the stage has reported it (each worker's intervals come
// in order on its own connection), or when it is `holdSlots` seconds behind the newest one (so one slow worker
// cannot stall the live line or grow memory). An interval that comes after its second went out is "late": it is
// emitted on its own, and it joins the totals like any other — nothing is dropped for being late (Artillery
// drops such batches, artillery #1695).
import * as hdr from 'hdr-histogram-js';
import type { Counts, LatencySummary, Model, StageResult, StageSnapshot, WorkerSnapshot } from '../types';
import { addCounts, addInterval, emptyCounts, emptyInterval, type Interval } from '../metrics/interval';
import { BUCKETS_SECONDS, summarize } from '../metrics/latency-histogram';
import type { WorkerTick } from './protocol';

export interface StageMergeOptions {
  stage: number;
  model: Model;
  /** workers taking part (indices 0..workers-1) */
  workers: number;
  /** emit a second at the latest this many seconds after a newer one was seen (default 3) */
  holdSlots?: number;
}

interface Slot {
  iv: Interval;
  /** sum of the workers' in-flight at the slot's end (addInterval keeps the later one's, a worker's) */
  inFlight: number;
  /** sum of the workers' target shares (each worker's target is its share of the stage's) */
  targetRate: number | null;
}

export class StageMerge {
  readonly stage: number;
  readonly model: Model;
  readonly total: Interval;
  private readonly perWorker: Interval[];
  private readonly intervalsFrom: number[];
  private readonly lateFrom: number[];
  /** the highest second each worker has reported; Infinity once it finished or left the stage */
  private readonly reported: number[];
  private readonly ticks: (WorkerTick | null)[];
  /** each worker's answers per second, interval by interval (to see a lagging generator) */
  private readonly rates: { t1Ms: number; rate: number }[][];
  private readonly slots = new Map<number, Slot>();
  private emittedUpTo = -1;
  private newest = -1;
  private readonly holdSlots: number;

  constructor(o: StageMergeOptions) {
    this.stage = o.stage;
    this.model = o.model;
    this.holdSlots = o.holdSlots ?? 3;
    this.total = emptyInterval(o.stage, o.model);
    this.perWorker = Array.from({ length: o.workers }, () => emptyInterval(o.stage, o.model));
    this.intervalsFrom = new Array<number>(o.workers).fill(0);
    this.lateFrom = new Array<number>(o.workers).fill(0);
    this.reported = new Array<number>(o.workers).fill(-1);
    this.ticks = new Array<WorkerTick | null>(o.workers).fill(null);
    this.rates = Array.from({ length: o.workers }, () => []);
  }

  /** The second an interval belongs to: its start, rounded (workers cut within a few ms of each other). */
  static slotOf(iv: Pick<Interval, 't0Ms'>): number {
    return Math.max(0, Math.round(iv.t0Ms / 1000));
  }

  /** Adds one worker's interval (which the merge now owns); returns the merged seconds now complete, in order. */
  add(worker: number, iv: Interval): Interval[] {
    addInterval(this.total, iv);
    addInterval(this.perWorker[worker]!, iv);
    this.intervalsFrom[worker]!++;
    const span = (iv.t1Ms - iv.t0Ms) / 1000;
    this.rates[worker]!.push({ t1Ms: iv.t1Ms, rate: span > 0 ? round2(iv.counts.completed / span) : 0 });
    const s = StageMerge.slotOf(iv);
    if (s <= this.emittedUpTo) {
      this.lateFrom[worker]!++;
      return [iv];
    }
    const slot = this.slots.get(s);
    if (slot) {
      slot.inFlight += iv.inFlight;
      if (iv.targetRate !== null) slot.targetRate = (slot.targetRate ?? 0) + iv.targetRate;
      addInterval(slot.iv, iv);
    } else {
      this.slots.set(s, { iv, inFlight: iv.inFlight, targetRate: iv.targetRate });
    }
    if (Number.isFinite(this.reported[worker]!)) this.reported[worker] = Math.max(this.reported[worker]!, s);
    this.newest = Math.max(this.newest, s);
    return this.release();
  }

  /** The worker's latest cumulative figures (live line, per-worker series). */
  tick(worker: number, t: WorkerTick): void {
    this.ticks[worker] = t;
  }

  /** The worker sent everything it has for this stage (its stage-end), or left the run: it holds nothing back. */
  finished(worker: number): Interval[] {
    this.reported[worker] = Number.POSITIVE_INFINITY;
    return this.release();
  }

  /** Every second still held (the stage is over). */
  flush(): Interval[] {
    return this.release(Number.POSITIVE_INFINITY);
  }

  private release(upTo?: number): Interval[] {
    const complete = Math.min(...this.reported);
    const limit = upTo ?? Math.max(complete, this.newest - this.holdSlots);
    const out: Interval[] = [];
    for (const s of [...this.slots.keys()].sort((a, b) => a - b)) {
      if (s > limit) break;
      const slot = this.slots.get(s)!;
      this.slots.delete(s);
      slot.iv.inFlight = slot.inFlight;
      slot.iv.targetRate = slot.targetRate;
      out.push(slot.iv);
      this.emittedUpTo = Math.max(this.emittedUpTo, s);
    }
    return out;
  }

  workerTotal(worker: number): Interval {
    return this.perWorker[worker]!;
  }

  /** The worker's achieved rate, interval by interval. */
  timelineOf(worker: number): readonly { t1Ms: number; rate: number }[] {
    return this.rates[worker]!;
  }

  intervalsOf(worker: number): number {
    return this.intervalsFrom[worker]!;
  }

  lateOf(worker: number): number {
    return this.lateFrom[worker]!;
  }

  workerTick(worker: number): WorkerTick | null {
    return this.ticks[worker]!;
  }

  /** The stage so far, cumulative, as one process's snapshot would read (ticks: the workers' latest). */
  snapshot(elapsedMs: number): StageSnapshot {
    const counts: Counts = emptyCounts();
    let inFlight = 0;
    let achieved = 0;
    let target: number | null = null;
    let sum = 0;
    let count = 0;
    const buckets = new Array<number>(BUCKETS_SECONDS.length + 1).fill(0);
    const workers: WorkerSnapshot[] = [];
    for (const [index, t] of this.ticks.entries()) {
      if (!t) continue;
      workers.push({ index, counts: { ...t.counts }, inFlight: t.inFlight, achievedRate: t.achievedRate });
      addCounts(counts, t.counts);
      inFlight += t.inFlight;
      achieved += t.achievedRate;
      if (t.targetRate !== null) target = (target ?? 0) + t.targetRate;
      sum += t.sumSeconds;
      count += t.count;
      t.buckets.forEach((b, i) => { if (i < buckets.length) buckets[i]! += b; });
    }
    return {
      elapsedMs: Math.round(elapsedMs),
      counts,
      inFlight,
      targetRate: target === null ? null : round2(target),
      achievedRate: round2(achieved),
      by_status: { ...this.total.byStatus },
      by_twirp_code: { ...this.total.byTwirpCode },
      by_error_code: { ...this.total.byErrorCode },
      latency_ms: summarize(this.total.latency),
      latencyBuckets: buckets.map((c, i) => ({ le: BUCKETS_SECONDS[i] ?? Number.POSITIVE_INFINITY, count: c })),
      latencySumSeconds: sum,
      latencyCount: count,
      workers,
    };
  }
}

/**
 * The merged stage as one process would have reported it: counts, codes and percentiles from the merged
 * intervals; bytes, length and target from the workers' own results (what intervals do not carry).
 */
export function mergedStageResult(
  name: string, model: Model, startedAtMs: number, merge: StageMerge, workerResults: StageResult[],
): StageResult {
  const t = merge.total;
  const durationMs = workerResults.reduce((a, r) => Math.max(a, r.duration_ms), 0);
  const bytes = workerResults.reduce((a, r) => ({ sent: a.sent + r.bytes.sent, received: a.received + r.bytes.received }), { sent: 0, received: 0 });
  const targets = workerResults.map((r) => r.rate.target).filter((x): x is number => x !== null);
  const out: StageResult = {
    name,
    model,
    started_at: new Date(startedAtMs).toISOString(),
    ended_at: new Date(startedAtMs + durationMs).toISOString(),
    duration_ms: durationMs,
    counts: { ...t.counts },
    rate: {
      target: model === 'open' && targets.length > 0 ? round2(targets.reduce((a, b) => a + b, 0)) : null,
      achieved: durationMs > 0 ? round2(t.counts.completed / (durationMs / 1000)) : 0,
    },
    latency_ms: summarize(t.latency),
    by_status: { ...t.byStatus },
    by_twirp_code: { ...t.byTwirpCode },
    by_error_code: { ...t.byErrorCode },
    bytes,
  };
  if (model === 'open') out.service_time_ms = t.serviceTime ? summarize(t.serviceTime) : zeroSummary();
  // the merged histograms themselves, as one process writes its own (the report's percentile spectrum)
  out.latency_hdr = hdr.encodeIntoCompressedBase64(t.latency);
  if (model === 'open' && t.serviceTime) out.service_time_hdr = hdr.encodeIntoCompressedBase64(t.serviceTime);
  if (t.worst) out.worst = { slowest: [...t.worst.slowest], failed: [...t.worst.failed] };
  return out;
}

function zeroSummary(): LatencySummary {
  return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
