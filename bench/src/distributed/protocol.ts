// The coordinator <-> worker protocol: JSON messages over one WebSocket per worker (the `ws` library; its
// ping/pong frames are the liveness check). One ordered connection per worker means a worker's intervals
// arrive in order and before its `stage-end`, so the coordinator knows when it has all of a stage.
//
//   worker                          coordinator
//   hello {index?, host}       ->
//                              <-   welcome {index, count, profile, target, runId}   (or reject)
//                              <-   ping {seq} x N     (clock offset: the smallest round trip wins)
//   pong {seq, at}             ->
//   ready {warmupMs}           ->                      (after its own checks: profile valid, target reachable)
//                              <-   start {t0, offsetMs}                              (one absolute start time)
//                              <-   stage {stage, atMs}                               (offset from t0)
//   stage-started {stage, at}  ->                      (start skew)
//   interval {...} / tick {...} -> about once a second
//   stage-end {stage, result}  ->
//                              <-   abort-stage {stage} (thresholds with abortOnFail, Ctrl-C, a lost worker)
//                              <-   done
//
// Every message from the other side is parsed here once and checked; anything malformed is a protocol error
// that ends that connection (never the run's data silently).
import type { Counts, StageResult } from '../types';
import type { WireInterval } from '../metrics/interval';
import type { ProfileDocument } from './profile-document';
import type { WarmupSummary } from '../warmup';

export const PROTOCOL_VERSION = 1;
/** Largest message either side accepts (an interval with its histograms is a few KiB). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export type WorkerMessage =
  | { type: 'hello'; v: number; index: number | null; host: string; pid: number }
  | { type: 'pong'; seq: number; at: number }
  | { type: 'ready'; warmupMs: number; warmup?: WarmupSummary | null }
  | { type: 'stage-started'; stage: number; at: number }
  | { type: 'interval'; interval: WireInterval }
  | { type: 'tick'; stage: number; tick: WorkerTick }
  | { type: 'stage-end'; stage: number; intervals: number; result: StageResult }
  | { type: 'failed'; message: string };

export type CoordinatorMessage =
  | { type: 'welcome'; v: number; index: number; count: number; runId: string; target: string; profile: ProfileDocument; warmupMs?: number }
  | { type: 'reject'; message: string }
  | { type: 'ping'; seq: number }
  | { type: 'start'; t0: number; offsetMs: number }
  | { type: 'stage'; stage: number; atMs: number }
  | { type: 'abort-stage'; stage: number; reason: string }
  | { type: 'done' };

/** A worker's cumulative figures for the live line and Prometheus (what intervals do not carry). */
export interface WorkerTick {
  elapsedMs: number;
  counts: Counts;
  inFlight: number;
  achievedRate: number;
  targetRate: number | null;
  /** cumulative Prometheus buckets of its latency since the stage start (bounds of latency-histogram.ts) */
  buckets: number[];
  sumSeconds: number;
  count: number;
}

export class ProtocolError extends Error {
  readonly code = 'BENCH_PROTOCOL_ERROR';
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ProtocolError(`${what} must be an object`);
  return v as Obj;
}
function num(o: Obj, k: string, what: string, integer = false): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new ProtocolError(`${what}.${k} must be a${integer ? ' whole' : ''} number (got ${JSON.stringify(v)})`);
  }
  return v;
}
function str(o: Obj, k: string, what: string, max = 1024): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max) throw new ProtocolError(`${what}.${k} must be a string of at most ${max} characters`);
  return v;
}
function counts(v: unknown, what: string): Counts {
  const o = obj(v, what);
  for (const k of ['sent', 'completed', 'ok', 'errors', 'timeouts', 'dropped']) num(o, k, what, true);
  return o as unknown as Counts;
}
function record(v: unknown, what: string): Record<string, number> {
  const o = obj(v, what);
  for (const k of Object.keys(o)) num(o, k, what);
  return o as Record<string, number>;
}

function wireInterval(v: unknown): WireInterval {
  const o = obj(v, 'interval');
  for (const k of ['stage']) num(o, k, 'interval', true);
  for (const k of ['t0Ms', 't1Ms', 'scheduled', 'inFlight']) num(o, k, 'interval');
  counts(o.counts, 'interval.counts');
  if (o.targetRate !== null) num(o, 'targetRate', 'interval');
  record(o.byStatus, 'interval.byStatus');
  record(o.byTwirpCode, 'interval.byTwirpCode');
  record(o.byErrorCode, 'interval.byErrorCode');
  if (typeof o.latency !== 'string') throw new ProtocolError('interval.latency must be an encoded histogram');
  if (o.serviceTime !== null && typeof o.serviceTime !== 'string') throw new ProtocolError('interval.serviceTime must be an encoded histogram or null');
  if (o.scheduleLagUs !== undefined && o.scheduleLagUs !== null && typeof o.scheduleLagUs !== 'string') {
    throw new ProtocolError('interval.scheduleLagUs must be an encoded histogram or null');
  }
  if (o.worst !== undefined) {
    const w = obj(o.worst, 'interval.worst');
    if (!Array.isArray(w.slowest) || !Array.isArray(w.failed) || w.slowest.length > 1000 || w.failed.length > 1000) {
      throw new ProtocolError('interval.worst must have slowest[] and failed[] (at most 1000 each)');
    }
  }
  return o as unknown as WireInterval;
}

function parseJson(raw: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new ProtocolError(`not JSON: ${(e as Error).message}`);
  }
  return obj(v, 'message');
}

/** A message from a worker, checked; throws ProtocolError. */
export function parseWorkerMessage(raw: string): WorkerMessage {
  const m = parseJson(raw);
  switch (m.type) {
    case 'hello': {
      num(m, 'v', 'hello', true);
      if (m.index !== null) num(m, 'index', 'hello', true);
      str(m, 'host', 'hello', 253);
      num(m, 'pid', 'hello', true);
      return m as WorkerMessage;
    }
    case 'pong': num(m, 'seq', 'pong', true); num(m, 'at', 'pong'); return m as WorkerMessage;
    case 'ready': {
      num(m, 'warmupMs', 'ready');
      if (m.warmup !== undefined && m.warmup !== null) {
        const w = obj(m.warmup, 'ready.warmup');
        for (const k of ['duration_ms', 'sent', 'ok', 'errors', 'dropped', 'achieved_rate', 'p99_ms']) num(w, k, 'ready.warmup');
      }
      return m as WorkerMessage;
    }
    case 'stage-started': num(m, 'stage', 'stage-started', true); num(m, 'at', 'stage-started'); return m as WorkerMessage;
    case 'interval': wireInterval(m.interval); return m as WorkerMessage;
    case 'tick': {
      num(m, 'stage', 'tick', true);
      const t = obj(m.tick, 'tick.tick');
      for (const k of ['elapsedMs', 'inFlight', 'achievedRate', 'sumSeconds', 'count']) num(t, k, 'tick');
      if (t.targetRate !== null) num(t, 'targetRate', 'tick');
      counts(t.counts, 'tick.counts');
      if (!Array.isArray(t.buckets) || t.buckets.length > 64 || !t.buckets.every((b) => typeof b === 'number' && Number.isFinite(b))) {
        throw new ProtocolError('tick.buckets must be at most 64 numbers');
      }
      return m as WorkerMessage;
    }
    case 'stage-end': {
      num(m, 'stage', 'stage-end', true);
      num(m, 'intervals', 'stage-end', true);
      const r = obj(m.result, 'stage-end.result');
      counts(r.counts, 'stage-end.result.counts');
      num(r, 'duration_ms', 'stage-end.result');
      const b = obj(r.bytes, 'stage-end.result.bytes');
      num(b, 'sent', 'stage-end.result.bytes');
      num(b, 'received', 'stage-end.result.bytes');
      str(r, 'started_at', 'stage-end.result', 64);
      return m as WorkerMessage;
    }
    case 'failed': str(m, 'message', 'failed', 4096); return m as WorkerMessage;
    default: throw new ProtocolError(`unknown message type ${JSON.stringify(m.type)}`);
  }
}

/** A message from the coordinator, checked; throws ProtocolError. */
export function parseCoordinatorMessage(raw: string): CoordinatorMessage {
  const m = parseJson(raw);
  switch (m.type) {
    case 'welcome': {
      num(m, 'v', 'welcome', true);
      num(m, 'index', 'welcome', true);
      num(m, 'count', 'welcome', true);
      str(m, 'runId', 'welcome', 200);
      str(m, 'target', 'welcome', 2048);
      obj(m.profile, 'welcome.profile'); // validated as a profile document by the worker
      if (m.warmupMs !== undefined) num(m, 'warmupMs', 'welcome');
      return m as CoordinatorMessage;
    }
    case 'reject': str(m, 'message', 'reject', 4096); return m as CoordinatorMessage;
    case 'ping': num(m, 'seq', 'ping', true); return m as CoordinatorMessage;
    case 'start': num(m, 't0', 'start'); num(m, 'offsetMs', 'start'); return m as CoordinatorMessage;
    case 'stage': num(m, 'stage', 'stage', true); num(m, 'atMs', 'stage'); return m as CoordinatorMessage;
    case 'abort-stage': num(m, 'stage', 'abort-stage', true); str(m, 'reason', 'abort-stage', 4096); return m as CoordinatorMessage;
    case 'done': return m as CoordinatorMessage;
    default: throw new ProtocolError(`unknown message type ${JSON.stringify(m.type)}`);
  }
}
