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
  /** prom-client's exemplar shape (rendered only in OpenMetrics, see openmetrics.ts). */
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
}

/**
 * The latest exemplar of each bucket of a series (the last slot is +Inf): the trace id of one request that fell in
 * it, its value and when (epoch seconds), so a latency panel can lead from a bucket to a trace. A trace the service
 * sampled (it is in the APM) is kept over an unsampled one for up to EXEMPLAR_KEEP_SAMPLED_S.
 */
class BucketExemplars {
  readonly traceIds: (string | undefined)[];
  readonly values: Float64Array;
  readonly at: Float64Array;
  readonly sampled: Uint8Array;
  constructor(n: number) {
    this.traceIds = new Array<string | undefined>(n);
    this.values = new Float64Array(n);
    this.at = new Float64Array(n);
    this.sampled = new Uint8Array(n);
  }
}

export const EXEMPLAR_KEEP_SAMPLED_S = 60;

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

  exemplars: BucketExemplars | undefined;

  observe(value: number): void {
    this.observeAt(value);
  }

  /** observe() with an exemplar: the trace id of the request observed, and whether the service traced it. */
  observeWithTrace(value: number, traceId: string, sampled: boolean): void {
    const i = this.observeAt(value);
    const ex = (this.exemplars ??= new BucketExemplars(this.bounds.length + 1));
    const now = Date.now() / 1000;
    if (sampled || ex.sampled[i] === 0 || now - ex.at[i]! > EXEMPLAR_KEEP_SAMPLED_S) {
      ex.traceIds[i] = traceId;
      ex.values[i] = value;
      ex.at[i] = now;
      ex.sampled[i] = sampled ? 1 : 0;
    }
  }

  /** Records the value; returns its bucket index (bounds.length = +Inf). */
  private observeAt(value: number): number {
    if (!Number.isFinite(value)) throw new TypeError(`value is not a finite number: ${String(value)}`);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    // Above the last bound: counted only in +Inf (count), as Prometheus' cumulative buckets define it.
    if (i < b.length) this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
    return i;
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
    s.exemplars = undefined;
  }

  protected export(s: HistogramSeries, out: ExportedValue[]): void {
    const bucket = `${this.name}_bucket`;
    const ex = s.exemplars;
    const exemplar = (i: number): ExportedValue['exemplar'] => {
      const id = ex?.traceIds[i];
      return id === undefined ? undefined : { labelSet: { trace_id: id }, value: ex!.values[i]!, timestamp: ex!.at[i]! };
    };
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += s.counts[i]!;
      const v: ExportedValue = { labels: { ...s.labels, le: this.bounds[i]! }, value: acc, metricName: bucket };
      if (ex !== undefined) v.exemplar = exemplar(i);
      out.push(v);
    }
    const inf: ExportedValue = { labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: bucket };
    if (ex !== undefined) inf.exemplar = exemplar(this.bounds.length);
    out.push(inf);
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
