// Labelled histogram and counter for the per-request hot path. prom-client validates and hashes the label object on
// every labelled observe()/inc(), even through a child from labels(): about 0.4 µs per histogram observation on
// this machine, a measurable share of a whole Push (service/perf/hot-path-costs.ts compares the two side by side).
// Here a label set is resolved to its series once; observing is then a bucket search and three
// additions. The metrics register with a prom-client Registry like its own (registerMetric + get()), so exposition,
// content type and the default metrics stay prom-client's.
import type { Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string | number>;

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface ExportedMetric {
  name: string;
  help: string;
  type: 'histogram' | 'counter';
  values: ExportedValue[];
  aggregator: 'sum';
}

/** One label set of a SeriesHistogram: counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string | number>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`value is not a finite number: ${String(value)}`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    // Above the last bound: counted only in +Inf (count), as Prometheus' cumulative buckets define it.
    if (i < b.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** One label set of a SeriesCounter. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string | number>>) {}
  inc(by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new TypeError(`counter increment must be finite and >= 0: ${String(by)}`);
    this.value += by;
  }
}

abstract class SeriesMetric<L extends string, S extends { labels: Readonly<Record<string, string | number>> }> {
  readonly aggregator = 'sum' as const;
  private readonly bySet = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registers: readonly Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as never);
  }

  /**
   * The series of `labels`, created on first use. Callers on the hot path keep the returned series; the lookup
   * itself still builds a key, so it is for label sets that are not known in advance.
   */
  series(labels: Labels<L>): S {
    let key = '';
    for (const n of this.labelNames) {
      const v = labels[n];
      if (v === undefined) throw new TypeError(`${this.name}: label ${n} is missing`);
      key += `${String(v)}\u0000`;
    }
    let s = this.bySet.get(key);
    if (s === undefined) {
      const own: Record<string, string | number> = {};
      for (const n of this.labelNames) own[n] = labels[n];
      s = this.create(Object.freeze(own));
      this.bySet.set(key, s);
    }
    return s;
  }

  protected abstract create(labels: Readonly<Record<string, string | number>>): S;
  protected abstract export(s: S, out: ExportedValue[]): void;
  abstract readonly type: 'histogram' | 'counter';

  protected abstract zero(s: S): void;

  /** Zeroes every series in place (prom-client's registry.resetMetrics() calls this); handles stay valid. */
  reset(): void {
    for (const s of this.bySet.values()) this.zero(s);
  }

  async get(): Promise<ExportedMetric> {
    const values: ExportedValue[] = [];
    for (const s of this.bySet.values()) this.export(s, values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class SeriesHistogram<L extends string> extends SeriesMetric<L, HistogramSeries> {
  readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(cfg: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[]; registers: readonly Registry[] }) {
    super(cfg.name, cfg.help, cfg.labelNames, cfg.registers);
    const sorted = [...cfg.buckets].sort((a, b) => a - b);
    if (sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new TypeError(`${cfg.name}: buckets must be finite and distinct`);
    }
    this.bounds = Object.freeze(sorted);
  }

  protected create(labels: Readonly<Record<string, string | number>>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected zero(s: HistogramSeries): void {
    s.counts.fill(0);
    s.sum = 0;
    s.count = 0;
  }

  protected export(s: HistogramSeries, out: ExportedValue[]): void {
    const bucket = `${this.name}_bucket`;
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += s.counts[i]!;
      out.push({ labels: { ...s.labels, le: this.bounds[i]! }, value: acc, metricName: bucket });
    }
    out.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucket });
    out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
    out.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
  }
}

export class SeriesCounter<L extends string> extends SeriesMetric<L, CounterSeries> {
  readonly type = 'counter' as const;

  constructor(cfg: { name: string; help: string; labelNames: readonly L[]; registers: readonly Registry[] }) {
    super(cfg.name, cfg.help, cfg.labelNames, cfg.registers);
  }

  protected create(labels: Readonly<Record<string, string | number>>): CounterSeries {
    return new CounterSeries(labels);
  }

  protected zero(s: CounterSeries): void {
    s.value = 0;
  }

  protected export(s: CounterSeries, out: ExportedValue[]): void {
    out.push({ labels: { ...s.labels }, value: s.value });
  }
}
