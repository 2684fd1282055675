// Warm-up: a fresh bench process measures its own start (JIT compilation, heap growth, connections being opened)
// unless it sends for a while first. wrk2 discards its first 10 s for the same reason; issue 17 measured the
// bench's first stage at 0.2 of capacity dropping arrivals and reading p99 176 ms cold, 6-21 ms after a 3 s
// warm-up. So before the first stage of a process's first run the bench sends the first stage's opening load
// for a few seconds and reports it apart (summary.json `warmup`, a line in the output), never inside a stage.
import type { StageSpec, StageResult } from './types';
import type { StageContext } from './executors/stage-context';
import type { GeneratorStats } from './metrics/generator-watch';

/** Warm-up length when the user says nothing (the CLI's `--warmup`). */
export const DEFAULT_WARMUP_MS = 3000;
/** Longest warm-up accepted: it is a preparation, not a stage. */
export const MAX_WARMUP_MS = 60_000;

export interface WarmupSummary {
  duration_ms: number;
  model: 'open' | 'closed';
  /** open model: the rate sent; closed: the connections */
  rate: number | null;
  connections: number | null;
  sent: number;
  ok: number;
  errors: number;
  dropped: number;
  achieved_rate: number;
  p99_ms: number;
  generator?: GeneratorStats;
}

let warmedUp = false;

/** Whether this process already warmed up (a second run in the same process, e.g. --apm-ab, needs none). */
export function processWarmedUp(): boolean {
  return warmedUp;
}

/** For tests: forget that this process warmed up. */
export function resetWarmup(): void {
  warmedUp = false;
}

/**
 * The warm-up stage for a profile: the first stage's opening load (its `rate` or `connections`; a ramp that
 * starts at 0 warms at a tenth of where it goes, at least 1) for `durationMs`, without thresholds.
 */
export function warmupStage(first: StageSpec, durationMs: number): StageSpec {
  const opening = (start: number | undefined, end: number | undefined): number =>
    start !== undefined && start > 0 ? start : Math.max(1, Math.round((end ?? 0) / 10));
  const base = { name: 'warm-up', durationMs, thresholds: [] };
  if (first.model === 'open') {
    return { ...base, model: 'open', rate: opening(first.rate, first.rampTo), ...(first.maxInFlight !== undefined ? { maxInFlight: first.maxInFlight } : {}),
      ...(first.maxConnections !== undefined ? { maxConnections: first.maxConnections } : {}) };
  }
  return { ...base, model: 'closed', connections: opening(first.connections, first.rampTo) };
}

/** Runs the warm-up with the stage executor; returns what it did (for the summary), and marks the process warm. */
export async function runWarmup(
  spec: StageSpec, ctx: StageContext, execute: (s: StageSpec, c: StageContext) => Promise<StageResult>,
): Promise<WarmupSummary> {
  const r = await execute(spec, ctx);
  warmedUp = true;
  const out: WarmupSummary = {
    duration_ms: r.duration_ms,
    model: spec.model,
    rate: spec.model === 'open' ? spec.rate ?? null : null,
    connections: spec.model === 'closed' ? spec.connections ?? null : null,
    sent: r.counts.sent,
    ok: r.counts.ok,
    errors: r.counts.errors,
    dropped: r.counts.dropped,
    achieved_rate: r.rate.achieved,
    p99_ms: r.latency_ms.p99,
  };
  if (r.generator) out.generator = r.generator;
  return out;
}
