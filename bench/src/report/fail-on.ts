// `--fail-on` gates for `bench compare`: "p99 > +10%", "achieved_rate < -5%", "error_rate > +0.5pp",
// "p99 > +20ms", optionally for one stage ("hold:p99 > +10%"). Parsed once at the edge; a gate is crossed by a
// stage whose change is past the bound AND distinguishable from noise (its 95% interval excludes no change and
// the rank test's p is below 0.05),
// so CI fails on regressions and not on a noisy machine. Without per-second data the change alone decides,
// and the result says so.
import type { Comparison, MetricChange, MetricName } from './compare-runs';

export interface FailOn {
  expr: string;
  stage: string | null;
  metric: MetricName;
  op: '>' | '>=' | '<' | '<=';
  /** the bound: a relative change (0.1 = +10%), or an absolute one in the metric's unit (ms, or a rate 0..1) */
  value: number;
  unit: '%' | 'ms' | 'pp' | 'req/s';
}

const METRIC_ALIASES: Record<string, MetricName> = {
  achieved_rate: 'achieved_rate', rate: 'achieved_rate', p50: 'p50', p99: 'p99', error_rate: 'error_rate', rows_per_flush: 'rows_per_flush',
};

const UNITS: Record<MetricName, FailOn['unit'][]> = {
  achieved_rate: ['%', 'req/s'], p50: ['%', 'ms'], p99: ['%', 'ms'], error_rate: ['pp', '%'], rows_per_flush: ['%'],
};

export function describeFailOn(): string {
  return 'METRIC OP CHANGE, METRIC one of achieved_rate p50 p99 error_rate rows_per_flush, OP one of > >= < <=, CHANGE a signed change: '
    + '+10% (relative), +20ms (p50/p99), +50req/s (achieved_rate), +0.5pp (error_rate, percentage points); prefix STAGE: for one stage';
}

export function parseFailOn(expr: string): FailOn | { error: string } {
  const m = /^\s*(?:([^:\s][^:]*?)\s*:\s*)?([a-z_0-9]+)\s*(>=|<=|>|<)\s*([+-]?\d+(?:\.\d+)?)\s*(%|ms|pp|req\/s)\s*$/.exec(expr);
  if (!m) return { error: `"${expr}" is not a --fail-on expression (${describeFailOn()})` };
  const metric = METRIC_ALIASES[m[2]!];
  if (!metric) return { error: `"${expr}": unknown metric ${m[2]} (one of ${Object.keys(METRIC_ALIASES).join(', ')})` };
  const unit = m[5] as FailOn['unit'];
  if (!UNITS[metric].includes(unit)) return { error: `"${expr}": ${metric} takes ${UNITS[metric].join(' or ')}, not ${unit}` };
  const raw = Number(m[4]);
  const value = unit === '%' || unit === 'pp' ? raw / 100 : raw;
  return { expr: expr.trim(), stage: m[1] ?? null, metric, op: m[3] as FailOn['op'], value, unit };
}

export interface FailOnResult {
  gate: FailOn;
  stage: string;
  /** the change the gate looked at, in the gate's unit (relative or absolute) */
  change: number | null;
  crossed: boolean;
  /** how it was judged */
  basis: 'interval' | 'point (no per-second data)' | 'no data';
  /** why a change past the bound did not cross it (it is not distinguishable from noise) */
  why?: string;
}

function past(op: FailOn['op'], v: number, bound: number): boolean {
  return op === '>' ? v > bound : op === '>=' ? v >= bound : op === '<' ? v < bound : v <= bound;
}

/** The change the gate is about, in its terms: relative for %, absolute otherwise (error_rate "%" is relative). */
function changeFor(gate: FailOn, m: MetricChange): { value: number | null; lo: number | null; hi: number | null } {
  const relative = gate.unit === '%';
  const value = relative ? m.relative : m.absolute;
  if (!m.interval || value === null) return { value, lo: null, hi: null };
  // m.interval is in the metric's own scale; convert when the gate speaks the other one.
  if ((m.scale === 'relative') === relative) return { value, lo: m.interval.lo, hi: m.interval.hi };
  if (m.base === null || m.base === 0) return { value, lo: null, hi: null };
  const f = relative ? 1 / m.base : m.base;
  return { value, lo: m.interval.lo * f, hi: m.interval.hi * f };
}

export function evaluateFailOn(gates: FailOn[], cmp: Comparison): FailOnResult[] {
  const out: FailOnResult[] = [];
  for (const gate of gates) {
    for (const s of cmp.stages) {
      if (gate.stage !== null && gate.stage !== s.name) continue;
      const m = s.metrics.find((x) => x.metric === gate.metric)!;
      const c = changeFor(gate, m);
      if (c.value === null) {
        // a base of 0 with a new value above it is an infinite relative change: crossed for ">" gates
        const inf = gate.unit === '%' && m.base === 0 && m.next !== null && m.next > 0;
        out.push({ gate, stage: s.name, change: inf ? Infinity : null, crossed: inf && (gate.op === '>' || gate.op === '>='), basis: inf ? 'point (no per-second data)' : 'no data' });
        continue;
      }
      if (c.lo === null || c.hi === null) {
        out.push({ gate, stage: s.name, change: c.value, crossed: past(gate.op, c.value, gate.value), basis: 'point (no per-second data)' });
        continue;
      }
      // Past the bound, and the change is real in that direction: the interval excludes no change and the rank
      // test agrees (the same two tests as the verdict).
      const alpha = 1 - cmp.options.confidence;
      const ranked = m.p === null || m.p < alpha;
      const excludes = gate.op === '>' || gate.op === '>=' ? c.lo > 0 : c.hi < 0;
      const isPast = past(gate.op, c.value, gate.value);
      const r: FailOnResult = { gate, stage: s.name, change: c.value, crossed: isPast && excludes && ranked, basis: 'interval' };
      if (isPast && !r.crossed) r.why = !excludes ? 'its interval includes no change' : `rank test p ${m.p!.toFixed(3)} is not below ${alpha}`;
      out.push(r);
    }
  }
  return out;
}
