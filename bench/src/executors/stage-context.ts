// What an executor needs from the run to execute one stage. The run orchestration builds it; executors never
// print and never read the CLI: they record, tick, and return a StageResult (without `server`).
import type { RequestSpec, StageInfo, StageSnapshot } from '../types';
import type { Interval } from '../metrics/interval';
import type { Segment } from '../segment';
import type { StageRecorder } from '../metrics/stage-recorder';
import type { ConnectionCarry } from './connection-set';

export interface StageContext {
  /** Base URL of the service, e.g. http://127.0.0.1:8080 (no trailing path). */
  target: string;
  request: RequestSpec;
  runId: string;
  stage: StageInfo;
  /** Abort = end the stage now; the executor stops sending, settles in-flight requests (bounded) and returns. */
  signal: AbortSignal;
  /** Called about once a second with cumulative figures since the stage started. Must not throw. */
  onTick(snapshot: StageSnapshot): void;
  /**
   * Called about once a second and once at the stage's end with what happened since the previous interval
   * (metrics/interval.ts); the interval and its histograms are the callee's. Must not throw.
   */
  onInterval?(interval: Interval): void;
  /** This process's part of the load (distributed runs): worker `index` of `count`; default {0, 1}. */
  segment?: Segment;
  /**
   * Open model: the connections one stage leaves open for the next of the same run (connection-set.ts); the
   * run closes it at its end. Absent: a stage opens its own connections and closes them when it ends.
   */
  carry?: ConnectionCarry;
}

/**
 * The once-a-second beat of a running stage: cut an interval, hand it on, then tick with the cumulative
 * snapshot (whose percentiles then include that interval). Consumers must not throw; if one does, the stage
 * goes on.
 */
export function beat(ctx: StageContext, rec: StageRecorder, now: number, targetRate: number | null, scheduledTotal?: number): void {
  const iv = rec.interval(now, targetRate, scheduledTotal);
  try {
    ctx.onInterval?.(iv);
  } catch {
    // a consumer must not break the stage
  }
  try {
    ctx.onTick(rec.snapshot(targetRate, now));
  } catch {
    // see above
  }
}
