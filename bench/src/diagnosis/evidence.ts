// What the diagnosis rules reason over, per stage: what the client saw, what the service's /metrics said (deltas,
// peaks, server-side time), what MySQL said, how the generator kept up, and the per-second timeline. Every field
// is optional beyond the client's own figures: a rule says nothing when its evidence is missing.
import type { StageResult, StageSpec, ThresholdResult } from '../types';
import type { ServerTime } from '../target/server-time';
import type { MysqlStageStatus } from '../target/mysql-status';

/** One entry of a stage's per-second timeline (the summary's stages[].timeline[]). */
export interface TimelineEntry {
  t_s: number;
  sent: number;
  ok: number;
  errors: number;
  dropped: number;
  scheduled: number;
  in_flight: number;
  target_rate: number | null;
  achieved_rate: number;
  p50_ms: number | null;
  p99_ms: number | null;
  by_twirp_code: Record<string, number>;
  by_error_code: Record<string, number>;
}

export interface ServerEvidence {
  pool_max?: number;
  buffer_capacity?: number;
  peaks: { buffer?: number; pool?: number; in_flight?: number };
  /** Pushes whose flush failed, by the error that failed it (pageview_rows_failed_total deltas). */
  rows_failed: Record<string, number>;
  /** Connections that failed to open or died, by "CODE/errno" (db_client_connection_errors_total deltas). */
  db_connection_errors: Record<string, number>;
  by_twirp_code: Record<string, number>;
  time?: ServerTime;
}

/** What the rules read of stages[].generator (the executors' watch, metrics/generator-watch.ts). */
export interface GeneratorEvidence {
  schedule_lag_ms?: { p50: number; p99: number; max: number } | null;
  event_loop_delay_ms?: { p50: number; p99: number; max: number } | null;
  /** the watch's own verdict: near its limit (more sensitive than "the generator set the latency") */
  saturated?: boolean;
  saturated_because?: string[];
}

export interface StageEvidence {
  spec: StageSpec;
  client: StageResult;
  /** The stage's thresholds that failed. */
  failed: ThresholdResult[];
  server?: ServerEvidence;
  mysql?: MysqlStageStatus;
  generator?: GeneratorEvidence;
  timeline?: TimelineEntry[];
  /** The self-started service exited during the stage: when (s from the stage start) and how. */
  serviceExit?: { at_s: number; code: number | null; signal: string | null };
}

export interface Diagnosis {
  rule: string;
  severity: 'info' | 'warn' | 'error';
  text: string;
  evidence: Record<string, unknown>;
}

export type Rule = (e: StageEvidence) => Diagnosis | null;
