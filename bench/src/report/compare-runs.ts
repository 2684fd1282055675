// Two runs, stage by stage (matched by name): the change in achieved rate, p50, p99, error rate and rows per
// flush, each with a noise-aware verdict. The noise comes from the runs' own per-second timelines: every
// interval is one observation of the stage, the bootstrap resamples them, and the interval it gives is put
// around the stage's own figure (which comes from the whole stage's histogram, not from per-second values).
import { bootstrapRatioOfSums, mannWhitney, type Interval, type RatioSample } from './compare-stats';
import type { LoadedSummary, SummaryDoc } from './load-summary';
import { at, num, numAt, objs, str, type Obj } from './read-fields';

export type MetricName = 'achieved_rate' | 'p50' | 'p99' | 'error_rate' | 'rows_per_flush';
export const METRICS: readonly MetricName[] = ['achieved_rate', 'p50', 'p99', 'error_rate', 'rows_per_flush'];

export type Verdict = 'regression' | 'improvement' | 'within noise' | 'changed' | 'no data';

export interface MetricChange {
  metric: MetricName;
  /** the direction that is better, or null when neither is (rows per flush) */
  better: 'higher' | 'lower' | null;
  base: number | null;
  next: number | null;
  /** (next - base) / base; null when base is 0 or either is missing */
  relative: number | null;
  /** next - base */
  absolute: number | null;
  /** How the change is stated: relative (%), or absolute for error_rate (percentage points). */
  scale: 'relative' | 'absolute';
  /** The 95% interval of the change in `scale`'s terms; null without enough per-second data. */
  interval: Interval | null;
  /** Two-sided Mann-Whitney p-value over the per-second values; null without them. */
  p: number | null;
  verdict: Verdict;
  /** Why there is no interval, when there is none. */
  why?: string;
}

export interface StageComparison {
  name: string;
  baseSeconds: number;
  nextSeconds: number;
  metrics: MetricChange[];
  verdict: Verdict;
}

export interface Comparison {
  base: RunRef;
  next: RunRef;
  stages: StageComparison[];
  onlyInBase: string[];
  onlyInNext: string[];
  verdict: Verdict;
  options: Required<CompareOptions>;
  notes: string[];
}

export interface RunRef {
  source: string;
  run_id: string;
  profile: string | null;
  git_commit: string | null;
  started_at: string | null;
  target: string | null;
}

export interface CompareOptions {
  /** A change smaller than this (relative) is within noise even when it is significant (default 0.1: runs of the same code on one shared machine differ by several percent). */
  minEffect?: number;
  /** Same for error_rate, in absolute terms (default 0.001 = 0.1 percentage points). */
  minErrorRateEffect?: number;
  confidence?: number;
  resamples?: number;
  seed?: number;
}

const DEFAULTS: Required<CompareOptions> = { minEffect: 0.1, minErrorRateEffect: 0.001, confidence: 0.95, resamples: 2000, seed: 1 };

/** One interval of a stage's timeline, the fields the comparison uses. */
interface Second {
  dt: number;
  ok: number;
  sent: number;
  errors: number;
  answered: number;
  p50: number | null;
  p99: number | null;
}

/**
 * Intervals shorter than this are left out of the per-second statistics when at least two others remain: a
 * stage's last interval is often its settling tail (a few answers in a few ms), a noisy observation that would
 * weigh as much as a full second in the rank test.
 */
const MIN_INTERVAL_S = 0.5;

function seconds(stage: Obj): Second[] {
  const all = allSeconds(stage);
  const full = all.filter((x) => x.dt >= MIN_INTERVAL_S);
  return full.length >= 2 ? full : all;
}

function allSeconds(stage: Obj): Second[] {
  const out: Second[] = [];
  let prev = 0;
  for (const e of objs(stage.timeline)) {
    const t = num(e.t_s);
    if (t === null) continue;
    const dt = t - prev;
    prev = t;
    if (!(dt > 0)) continue;
    const ok = num(e.ok) ?? 0;
    const errors = num(e.errors) ?? 0;
    const rate = num(e.achieved_rate);
    out.push({
      dt, ok, errors, sent: num(e.sent) ?? 0,
      // answers in the interval: the achieved rate is answers per second
      answered: rate !== null ? rate * dt : ok + errors,
      p50: num(e.p50_ms), p99: num(e.p99_ms),
    });
  }
  return out;
}

/**
 * The per-second statistic each metric's interval is drawn from, as a ratio of sums over the seconds (weighted
 * where intervals differ in size): rate = answers / seconds, error rate = errors / sent, a latency percentile =
 * the per-second values weighted by the answers they summarize.
 */
function ratioSample(metric: Exclude<MetricName, 'rows_per_flush'>, xs: Second[]): RatioSample {
  const num = new Float64Array(xs.length);
  const den = new Float64Array(xs.length);
  xs.forEach((x, i) => {
    if (metric === 'achieved_rate') { num[i] = x.answered; den[i] = x.dt; }
    else if (metric === 'error_rate') { num[i] = x.errors; den[i] = x.sent; }
    else {
      const v = metric === 'p50' ? x.p50 : x.p99;
      const w = v === null ? 0 : Math.max(1, x.answered);
      num[i] = v === null ? 0 : w * v;
      den[i] = w;
    }
  });
  return { num, den };
}

function ratioOf(s: RatioSample): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < s.num.length; i++) { n += s.num[i]!; d += s.den[i]!; }
  return n / d;
}

function stageFigure(stage: Obj, metric: MetricName): number | null {
  switch (metric) {
    case 'achieved_rate': return numAt(stage, 'rate', 'achieved');
    case 'p50': return numAt(stage, 'latency_ms', 'p50');
    case 'p99': return numAt(stage, 'latency_ms', 'p99');
    case 'error_rate': {
      const sent = numAt(stage, 'counts', 'sent');
      const errors = numAt(stage, 'counts', 'errors');
      return sent && errors !== null ? errors / sent : sent === 0 ? 0 : null;
    }
    case 'rows_per_flush': {
      const mean = numAt(stage, 'server_time', 'rows_per_flush', 'mean');
      if (mean !== null) return mean;
      const flushes = numAt(stage, 'server', 'extra', 'flushes');
      const rows = numAt(stage, 'server', 'extra', 'batched_rows');
      return flushes && rows !== null ? rows / flushes : null;
    }
  }
}

const BETTER: Record<MetricName, 'higher' | 'lower' | null> = {
  achieved_rate: 'higher', p50: 'lower', p99: 'lower', error_rate: 'lower', rows_per_flush: null,
};

function compareMetric(metric: MetricName, a: Obj, b: Obj, sa: Second[], sb: Second[], o: Required<CompareOptions>): MetricChange {
  const base = stageFigure(a, metric);
  const next = stageFigure(b, metric);
  const scale = metric === 'error_rate' ? 'absolute' : 'relative';
  const absolute = base !== null && next !== null ? next - base : null;
  const relative = base !== null && next !== null && base !== 0 ? (next - base) / base : base === 0 && next === 0 ? 0 : null;
  const change: MetricChange = { metric, better: BETTER[metric], base, next, relative, absolute, scale, interval: null, p: null, verdict: 'no data' };
  if (base === null || next === null) {
    change.why = `${base === null ? 'base' : 'new'} run has no ${metric}`;
    return change;
  }
  const point = scale === 'absolute' ? absolute : relative;
  if (metric === 'rows_per_flush') {
    change.why = 'a server figure per stage, not per second';
    change.verdict = point === 0 ? 'within noise' : 'changed';
    return change;
  }
  if (sa.length < 2 || sb.length < 2) {
    change.why = 'no per-second timeline (stages[].timeline) in ' + (sa.length < 2 && sb.length < 2 ? 'either run' : sa.length < 2 ? 'the base run' : 'the new run');
    change.verdict = point === 0 ? 'within noise' : 'changed';
    return change;
  }
  // The spread of the per-second statistic, placed around the stage's figure: for a relative change the
  // bootstrap's ratio is scaled by (stage ratio / per-second ratio), for an absolute one shifted by the difference.
  const ra = ratioSample(metric, sa);
  const rb = ratioSample(metric, sb);
  const obsA = ratioOf(ra);
  const obsB = ratioOf(rb);
  const boot = { resamples: o.resamples, confidence: o.confidence, seed: o.seed };
  let interval: Interval | null = null;
  if (scale === 'relative' && base > 0 && next > 0 && obsA > 0 && obsB > 0) {
    const r = bootstrapRatioOfSums(ra, rb, (x, y) => Math.log(y / x), boot);
    const shift = Math.log(next / base) - Math.log(obsB / obsA);
    if (r) interval = { lo: Math.exp(r.lo + shift) - 1, hi: Math.exp(r.hi + shift) - 1 };
  } else if (scale === 'absolute' && Number.isFinite(obsA) && Number.isFinite(obsB)) {
    const r = bootstrapRatioOfSums(ra, rb, (x, y) => y - x, boot);
    const shift = absolute! - (obsB - obsA);
    if (r) interval = { lo: r.lo + shift, hi: r.hi + shift };
  }
  change.interval = interval;
  const perSecond = (xs: Second[]) => (metric === 'achieved_rate' ? xs.map((x) => x.answered / x.dt) : metric === 'error_rate' ? xs.map((x) => (x.sent ? x.errors / x.sent : 0)) : xs.map((x) => (metric === 'p50' ? x.p50 : x.p99)).filter((v): v is number => v !== null));
  change.p = mannWhitney(perSecond(sa), perSecond(sb))?.p ?? null;
  if (!interval) {
    change.why = 'the per-second values gave no interval (a run with no answers?)';
    change.verdict = point === 0 ? 'within noise' : 'changed';
    return change;
  }
  // Both tests must agree before a change counts: the bootstrap interval excludes no change, and the rank test
  // rejects "same distribution" at the same level. A handful of seconds gives the percentile bootstrap too few
  // distinct resamples to be trusted alone (it comes out too narrow); the rank test's exact p stays honest there.
  const floor = scale === 'absolute' ? o.minErrorRateEffect : o.minEffect;
  const ranked = change.p === null || change.p < 1 - o.confidence;
  const up = interval.lo > 0 && point! >= floor && ranked;
  const down = interval.hi < 0 && point! <= -floor && ranked;
  if (!up && !down) change.verdict = 'within noise';
  else change.verdict = (up && BETTER[metric] === 'lower') || (down && BETTER[metric] === 'higher') ? 'regression' : 'improvement';
  return change;
}

function combine(vs: Verdict[]): Verdict {
  if (vs.includes('regression')) return 'regression';
  if (vs.includes('improvement')) return 'improvement';
  if (vs.includes('changed')) return 'changed';
  if (vs.includes('within noise')) return 'within noise';
  return 'no data';
}

function ref(l: LoadedSummary): RunRef {
  const d: SummaryDoc = l.doc;
  return { source: l.source, run_id: d.run_id, profile: str(d.profile), git_commit: str(d.git_commit), started_at: str(d.started_at), target: str(d.target) };
}

export function compareRuns(base: LoadedSummary, next: LoadedSummary, opts: CompareOptions = {}): Comparison {
  const o: Required<CompareOptions> = { ...DEFAULTS, ...opts };
  const nextByName = new Map(next.doc.stages.map((s) => [str(s.name)!, s]));
  const baseNames = new Set(base.doc.stages.map((s) => str(s.name)!));
  const stages: StageComparison[] = [];
  for (const a of base.doc.stages) {
    const name = str(a.name)!;
    const b = nextByName.get(name);
    if (!b) continue;
    const sa = seconds(a);
    const sb = seconds(b);
    const metrics = METRICS.map((m) => compareMetric(m, a, b, sa, sb, o));
    stages.push({ name, baseSeconds: sa.length, nextSeconds: sb.length, metrics, verdict: combine(metrics.filter((m) => m.metric !== 'rows_per_flush').map((m) => m.verdict)) });
  }
  const notes = [...base.notes.map((n) => `base: ${n}`), ...next.notes.map((n) => `new: ${n}`)];
  // A load generator that could not keep up measured itself: say so next to any verdict drawn from that stage.
  for (const [label, l] of [['base', base], ['new', next]] as const) {
    for (const s of l.doc.stages) {
      if (at(s, 'generator', 'saturated') === true && stages.some((c) => c.name === str(s.name))) {
        notes.push(`${label}: the load generator was saturated in stage ${str(s.name)}; its figures may measure the bench's machine, not the target`);
      }
    }
  }
  if (str(base.doc.profile) !== str(next.doc.profile)) notes.push(`the runs used different profiles (${str(base.doc.profile)} vs ${str(next.doc.profile)})`);
  if (stages.length === 0) notes.push('no stage name is in both runs: nothing to compare');
  return {
    base: ref(base), next: ref(next), stages,
    onlyInBase: base.doc.stages.map((s) => str(s.name)!).filter((n) => !nextByName.has(n)),
    onlyInNext: next.doc.stages.map((s) => str(s.name)!).filter((n) => !baseNames.has(n)),
    verdict: combine(stages.map((s) => s.verdict)),
    options: o,
    notes,
  };
}
