// k6-like threshold expressions ("p99 < 50ms", "error_rate < 1%", "achieved_rate >= 99% of target"), parsed once
// before the run (a parse error is a usage error) and evaluated against a stage's result or the run's aggregate.
// Grammar (one comparison per expression, as in k6's `p(99)<50` but with readable names):
//   expr   := metric op value
//   op     := < | <= | > | >= | == | !=
//   metric := latency | service latency | rate | count | keyed count
// See `describeThresholdGrammar()` for the full list; the README quotes it.
import type { Counts, LatencySummary, MetricRef, Op, StageResult, StageSnapshot, Threshold } from '../types';

export type { MetricRef, Op, Threshold } from '../types';

type LatencyKey = keyof LatencySummary;
type CountKey = keyof Counts;

const LATENCY: Record<string, LatencyKey> = {
  p50: 'p50', med: 'p50', p90: 'p90', p99: 'p99', p999: 'p999', 'p99.9': 'p999', max: 'max', mean: 'mean', avg: 'mean',
};
const COUNTS: CountKey[] = ['sent', 'completed', 'ok', 'errors', 'timeouts', 'dropped'];
const RATES = ['error_rate', 'timeout_rate', 'dropped_rate'] as const;
const TIME_UNIT_MS: Record<string, number> = { us: 0.001, 'µs': 0.001, ms: 1, s: 1000 };

const SHAPE = /^\s*([A-Za-z_][\w.]*(?:\[[^\]]+\])?)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$/;
const NUMBER = /^(-?\d+(?:\.\d+)?)\s*(us|µs|ms|s|%|req\/s)?$/;

/** Parses one expression; returns a message (without the path) on error. */
export function parseThreshold(expr: unknown): Threshold | { error: string } {
  if (typeof expr !== 'string') return { error: `must be a threshold expression string like "p99 < 50ms"` };
  const m = SHAPE.exec(expr);
  if (!m) return { error: `cannot parse ${JSON.stringify(expr)}: expected "<metric> <op> <value>", e.g. "p99 < 50ms"` };
  const [, name, op, rawValue] = m as unknown as [string, string, Op, string];
  const metric = parseMetric(name);
  if ('error' in metric) return { error: `${JSON.stringify(expr)}: ${metric.error}` };
  const value = parseValue(metric, rawValue);
  if ('error' in value) return { error: `${JSON.stringify(expr)}: ${value.error}` };
  return { expr: expr.trim(), metric: value.metric, op, value: value.value };
}

function parseMetric(name: string): MetricRef | { error: string } {
  const keyed = /^(status|twirp|socket)\[([^\]]+)\]$/.exec(name);
  if (keyed) return { kind: 'keyed', family: keyed[1] as 'status' | 'twirp' | 'socket', key: keyed[2]!.trim() };
  const lower = name.toLowerCase();
  if (lower in LATENCY) return { kind: 'latency', key: LATENCY[lower]!, service: false };
  if (lower.startsWith('service_') && lower.slice(8) in LATENCY) {
    return { kind: 'latency', key: LATENCY[lower.slice(8)]!, service: true };
  }
  if ((COUNTS as string[]).includes(lower)) return { kind: 'count', key: lower as CountKey };
  if ((RATES as readonly string[]).includes(lower)) return { kind: 'rate', key: lower as (typeof RATES)[number] };
  if (lower === 'achieved_rate' || lower === 'rps') return { kind: 'achieved_rate', ofTarget: false };
  if (lower === 'disagreements') return { kind: 'disagreements' };
  return { error: `unknown metric "${name}" (${describeThresholdGrammar().metrics})` };
}

function parseValue(metric: MetricRef, raw: string): { metric: MetricRef; value: number } | { error: string } {
  if (metric.kind === 'achieved_rate') {
    const of = /^(\d+(?:\.\d+)?)\s*%\s+of\s+target$/i.exec(raw);
    if (of) return { metric: { kind: 'achieved_rate', ofTarget: true }, value: Number(of[1]) / 100 };
  }
  const m = NUMBER.exec(raw);
  if (!m) return { error: `cannot read the value "${raw}"` };
  const n = Number(m[1]);
  const unit = m[2];
  switch (metric.kind) {
    case 'latency':
      if (unit === '%' || unit === 'req/s') return { error: `a latency takes a time unit (us, ms, s), not "${unit}"` };
      if (n < 0) return { error: 'a latency bound cannot be negative' };
      // A bare number is milliseconds, as in k6's http_req_duration thresholds.
      return { metric, value: n * TIME_UNIT_MS[unit ?? 'ms']! };
    case 'rate':
      if (unit !== undefined && unit !== '%') return { error: `a rate is a fraction (0.01) or a percentage (1%), not "${unit}"` };
      {
        const v = unit === '%' ? n / 100 : n;
        if (v < 0 || v > 1) return { error: 'a rate must be between 0 and 1 (0% and 100%)' };
        return { metric, value: v };
      }
    case 'achieved_rate':
      if (unit !== undefined && unit !== 'req/s') {
        return { error: `achieved_rate takes requests per second ("500", "500req/s") or "N% of target"` };
      }
      if (n < 0) return { error: 'a rate cannot be negative' };
      return { metric, value: n };
    default:
      if (unit !== undefined) return { error: `a count takes a plain number, not "${unit}"` };
      if (!Number.isInteger(n) || n < 0) return { error: 'a count bound must be a whole number >= 0' };
      return { metric, value: n };
  }
}

export function describeThresholdGrammar(): { metrics: string; examples: string[] } {
  return {
    metrics:
      'latency: p50 p90 p99 p999 max mean (service_p99 etc. for open-model service time), in us/ms/s; ' +
      'rates: error_rate timeout_rate dropped_rate as 0.01 or 1%; achieved_rate in req/s or "N% of target"; ' +
      'counts: sent completed ok errors timeouts dropped disagreements; keyed counts: status[503] twirp[unavailable] socket[ECONNRESET]',
    examples: ['p99 < 50ms', 'error_rate < 1%', 'achieved_rate >= 99% of target', 'dropped == 0', 'twirp[unavailable] == 0'],
  };
}

/** What thresholds are evaluated against: one stage's result, or the run's aggregate (see `aggregateStages`). */
export interface ThresholdSubject {
  counts: Counts;
  durationMs: number;
  targetRate: number | null;
  achievedRate: number;
  latency: LatencySummary;
  serviceLatency?: LatencySummary;
  byStatus: Record<string, number>;
  byTwirpCode: Record<string, number>;
  byErrorCode: Record<string, number>;
  disagreements: number | null;
}

/**
 * Requests whose outcome was a failure. The stage recorder (stage-recorder.ts) already counts non-2xx answers,
 * socket failures and timeouts in `errors`, so error_rate = errors / sent, as its counting rules say.
 */
export function failedCount(c: Counts): number {
  return c.errors;
}

export function subjectFromStage(r: StageResult): ThresholdSubject {
  return {
    counts: r.counts,
    durationMs: r.duration_ms,
    targetRate: r.rate.target,
    achievedRate: r.rate.achieved,
    latency: r.latency_ms,
    serviceLatency: r.service_time_ms,
    byStatus: r.by_status,
    byTwirpCode: r.by_twirp_code,
    byErrorCode: r.by_error_code,
    disagreements: r.server ? r.server.disagreements.length : null,
  };
}

/** A stage in progress, from its latest snapshot (no service time, no server counts yet). */
export function subjectFromSnapshot(s: StageSnapshot): ThresholdSubject {
  return {
    counts: s.counts,
    durationMs: s.elapsedMs,
    targetRate: s.targetRate,
    achievedRate: s.achievedRate,
    latency: s.latency_ms,
    byStatus: s.by_status,
    byTwirpCode: s.by_twirp_code,
    byErrorCode: s.by_error_code,
    disagreements: null,
  };
}

/** Below this many requests sent, a rate or percentile in progress says too little to end a stage on. */
export const EARLY_MIN_SENT = 100;

/**
 * abortOnFail also ends a stage before its time when the verdict is already certain or well supported (k6
 * evaluates thresholds during the run for abortOnFail, with delayAbortEval as the grace):
 * - a count with an upper bound (dropped == 0, timeouts < 5, twirp[unavailable] == 0) only grows, so once it is
 *   past the bound the stage has failed, whenever that happens;
 * - rates (error_rate, ...) and client latency percentiles are judged from half-way through the stage and at
 *   least EARLY_MIN_SENT requests sent;
 * - achieved_rate (low while the first requests are in flight), service time and disagreements (known only at
 *   the stage's end) are never judged early.
 * Returns the measured value when the threshold has failed early, null otherwise.
 */
export function failedEarly(t: Threshold, s: ThresholdSubject, fractionElapsed: number): number | null {
  const m = t.metric;
  if (m.kind === 'count' || m.kind === 'keyed') {
    const v = measure(t, s);
    if (v === null) return null;
    // "< N" and "<= N" fail for good once broken; "== N" only once the count is past N.
    if ((t.op === '<' || t.op === '<=') && !compare(t.op, v, t.value)) return v;
    if (t.op === '==' && v > t.value) return v;
    return null;
  }
  if (m.kind === 'rate' || (m.kind === 'latency' && !m.service)) {
    if (fractionElapsed < 0.5 || s.counts.sent < EARLY_MIN_SENT) return null;
    const r = evaluate(t, s);
    return r && !r.passed && r.value !== null ? r.value : null;
  }
  return null;
}

/**
 * The run as a whole: counts and keyed counts add up; rates are totals over total time (the target is the
 * time-weighted mean over open-model stages, null if there are none); latency percentiles are the worst stage's,
 * an upper bound on the run's true percentile (stage histograms are not merged here).
 */
export function aggregateStages(results: StageResult[]): ThresholdSubject {
  const counts: Counts = { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 };
  const lat: LatencySummary = { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  let svc: LatencySummary | undefined;
  const byStatus: Record<string, number> = {};
  const byTwirp: Record<string, number> = {};
  const byErr: Record<string, number> = {};
  let duration = 0;
  let targetWeighted = 0;
  let openDuration = 0;
  let openCompleted = 0;
  let disagreements: number | null = null;
  let weightedMean = 0;
  for (const r of results) {
    for (const k of COUNTS) counts[k] += r.counts[k];
    for (const k of Object.keys(lat) as LatencyKey[]) if (k !== 'mean') lat[k] = Math.max(lat[k], r.latency_ms[k]);
    weightedMean += r.latency_ms.mean * r.counts.completed;
    if (r.service_time_ms) {
      svc ??= { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
      for (const k of Object.keys(svc) as LatencyKey[]) svc[k] = Math.max(svc[k], r.service_time_ms[k]);
    }
    addInto(byStatus, r.by_status);
    addInto(byTwirp, r.by_twirp_code);
    addInto(byErr, r.by_error_code);
    duration += r.duration_ms;
    if (r.rate.target !== null) {
      targetWeighted += r.rate.target * r.duration_ms;
      openDuration += r.duration_ms;
      openCompleted += r.rate.achieved * (r.duration_ms / 1000);
    }
    if (r.server) disagreements = (disagreements ?? 0) + r.server.disagreements.length;
  }
  lat.mean = counts.completed > 0 ? weightedMean / counts.completed : 0;
  const allOpen = openDuration === duration && duration > 0;
  return {
    counts,
    durationMs: duration,
    targetRate: openDuration > 0 ? targetWeighted / openDuration : null,
    // With a target, compare like with like: achieved over the open-model stages only.
    achievedRate: openDuration > 0 && !allOpen
      ? openCompleted / (openDuration / 1000)
      : duration > 0 ? results.reduce((s, r) => s + r.rate.achieved * r.duration_ms, 0) / duration : 0,
    latency: lat,
    serviceLatency: svc,
    byStatus,
    byTwirpCode: byTwirp,
    byErrorCode: byErr,
    disagreements,
  };
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** The measured value for a threshold, or null when it does not apply (e.g. "% of target" on a closed stage). */
export function measure(t: Threshold, s: ThresholdSubject): number | null {
  const m = t.metric;
  switch (m.kind) {
    case 'latency': {
      const src = m.service ? s.serviceLatency : s.latency;
      return src ? src[m.key] : null;
    }
    case 'count':
      return s.counts[m.key];
    case 'rate': {
      const c = s.counts;
      if (m.key === 'dropped_rate') {
        const offered = c.sent + c.dropped;
        return offered > 0 ? c.dropped / offered : 0;
      }
      if (c.sent === 0) return 0;
      return m.key === 'error_rate' ? failedCount(c) / c.sent : c.timeouts / c.sent;
    }
    case 'achieved_rate':
      if (!m.ofTarget) return s.achievedRate;
      if (s.targetRate === null || s.targetRate <= 0) return null;
      return s.achievedRate / s.targetRate;
    case 'keyed': {
      const table = m.family === 'status' ? s.byStatus : m.family === 'twirp' ? s.byTwirpCode : s.byErrorCode;
      return table[m.key] ?? 0;
    }
    case 'disagreements':
      return s.disagreements;
  }
}

export function compare(op: Op, a: number, b: number): boolean {
  // Rounding noise (0.1 + 0.2) must not flip "== 0.3"; 1e-9 relative is far below anything measured here.
  const eps = 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  switch (op) {
    case '<': return a < b - eps;
    case '<=': return a <= b + eps;
    case '>': return a > b + eps;
    case '>=': return a >= b - eps;
    case '==': return Math.abs(a - b) <= eps;
    case '!=': return Math.abs(a - b) > eps;
  }
}

/**
 * Latency, rates and the achieved rate describe answers: over a stage that got none (the service was down, every
 * connection refused) they have no value, and a bound on them cannot have held. Counts still can ("errors == 0").
 */
export function needsAnswers(t: Threshold): boolean {
  const k = t.metric.kind;
  return k === 'latency' || k === 'rate' || k === 'achieved_rate';
}

export const NO_ANSWERS = 'no answers';

/** Evaluates one threshold; `null` means it does not apply to this subject and is left out of the results. */
export function evaluate(t: Threshold, s: ThresholdSubject): { value: number | null; passed: boolean; note?: string } | null {
  const v = measure(t, s);
  if (v === null) return null;
  if (needsAnswers(t) && s.counts.completed === 0) return { value: null, passed: false, note: NO_ANSWERS };
  return { value: v, passed: compare(t.op, v, t.value) };
}
