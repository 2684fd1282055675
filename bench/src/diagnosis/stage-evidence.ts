// A stage's evidence for the rules, from what the run has at the stage's end: the spec, the client's result and
// failed thresholds, and what the stage observer read from the service and MySQL.
import type { StageResult, StageSpec, ThresholdResult } from '../types';
import type { ObservedStage } from '../target/stage-observer';
import type { GeneratorEvidence, ServerEvidence, StageEvidence, TimelineEntry } from './evidence';

export function stageEvidence(
  spec: StageSpec, client: StageResult, judged: ThresholdResult[], observed: ObservedStage,
  exit?: { at_s: number; code: number | null; signal: string | null },
  more: { timeline?: TimelineEntry[]; generator?: GeneratorEvidence } = {},
): StageEvidence {
  const e: StageEvidence = { spec, client, failed: judged.filter((t) => !t.passed) };
  if (observed.delta) {
    const c = observed.delta.counters;
    const g = observed.delta.gauges;
    const byPrefix = (prefix: string) => {
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(c)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
      return out;
    };
    const server: ServerEvidence = {
      peaks: {},
      rows_failed: byPrefix('rows_failed:'),
      db_connection_errors: byPrefix('db_connection_errors:'),
      by_twirp_code: observed.server?.by_twirp_code ?? {},
    };
    const poolMax = observed.peaks?.pool.max ?? g.db_connections_max;
    // the embedded store has no pool: its pool gauges read 0 and say nothing
    if (poolMax !== undefined && poolMax > 0) server.pool_max = poolMax;
    const cap = observed.peaks?.buffer.capacity ?? g.buffer_capacity;
    if (cap !== undefined && cap > 0) server.buffer_capacity = cap;
    if (observed.peaks?.buffer.peak != null) server.peaks.buffer = observed.peaks.buffer.peak;
    if (observed.peaks?.pool.peak != null && server.pool_max !== undefined) server.peaks.pool = observed.peaks.pool.peak;
    if (observed.peaks?.in_flight.peak != null) server.peaks.in_flight = observed.peaks.in_flight.peak;
    if (observed.server_time) server.time = observed.server_time;
    e.server = server;
  }
  if (observed.mysql) e.mysql = observed.mysql;
  if (exit) e.serviceExit = exit;
  if (more.timeline) e.timeline = more.timeline;
  if (more.generator) e.generator = more.generator;
  return e;
}
