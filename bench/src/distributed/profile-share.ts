// What worker k of N runs of each stage, in the profile's own terms: the summary's `workers[].stages[].share`,
// and the plan the splitting tests check against the one-process run. The split itself lives in segment.ts
// and in the executors (which take a segment); this only states it per stage.
import type { StageSpec } from '../types';
import { ArrivalSchedule } from '../executors/arrival-schedule';
import { shareOf, type Segment } from '../segment';

export interface StageShare {
  /** closed model: this worker's connections at the start and the end of the stage */
  connections?: number;
  rampTo?: number;
  /** open model: this worker's part of the arrival rate (it fires every N-th arrival of the global schedule) */
  rate?: number;
  /** which global arrivals are this worker's */
  arrivals?: string;
  maxInFlight?: number;
  maxConnections?: number;
}

export function stageShare(spec: StageSpec, seg: Segment): StageShare {
  if (spec.model === 'closed') {
    const out: StageShare = { connections: shareOf(spec.connections ?? 0, seg) };
    if (spec.rampTo !== undefined) out.rampTo = shareOf(spec.rampTo, seg);
    return out;
  }
  const out: StageShare = { rate: round3((spec.rate ?? 0) / seg.count), arrivals: `i mod ${seg.count} == ${seg.index}` };
  if (spec.rampTo !== undefined) out.rampTo = round3(spec.rampTo / seg.count);
  // the open executor keeps at least one slot per worker
  if (spec.maxInFlight !== undefined) out.maxInFlight = Math.max(1, shareOf(spec.maxInFlight, seg));
  if (spec.maxConnections !== undefined) out.maxConnections = Math.max(1, shareOf(spec.maxConnections, seg));
  return out;
}

/**
 * Open model: the intended start (ms from the stage start) of every arrival this worker fires, as the open
 * executor walks the global schedule (arrival k, k + N, k + 2N, ... while due within the stage).
 */
export function arrivalTimes(spec: StageSpec, seg: Segment): number[] {
  const schedule = new ArrivalSchedule(spec.rate ?? 0, spec.rampTo, spec.durationMs);
  const out: number[] = [];
  for (let i = seg.index; ; i += seg.count) {
    const at = schedule.atMs(i);
    if (!(at < spec.durationMs)) break;
    out.push(at);
  }
  return out;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
