// The report's charts as data: summary.json fields -> series on one x axis, ready for uPlot (which wants every
// series aligned on one shared x array). Time charts put every stage on the run's clock (seconds since the run
// started) with the stages as shaded bands; the spectrum puts each stage's percentiles on an HDR axis. The page
// only draws what is computed here.
import { spectrumFromHdr } from './hdr-spectrum';
import type { SummaryDoc } from './load-summary';
import { counts, num, objs, str, timeMs, type Obj } from './read-fields';

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  /** line (default), points (markers only), step */
  kind?: 'line' | 'points' | 'step';
  dash?: number[];
  width?: number;
  /** a series sampled at other instants than the chart's other series: draw across the gaps */
  sparse?: boolean;
}

export interface Band {
  from: number;
  to: number;
  label: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  /** one line under the title: what the chart shows and where the data comes from */
  note?: string;
  yLabel: string;
  x: number[];
  xKind: 'time' | 'percentile';
  yLog?: boolean;
  series: ChartSeries[];
  bands: Band[];
}

/** A colour-blind-safe palette (Okabe-Ito, then Tableau), fixed so a code keeps its colour across charts. */
export const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#d55e00', '#cc79a7', '#56b4e9', '#f0e442', '#000000', '#59a14f', '#b07aa1', '#9c755f', '#bab0ac'];
export const COLORS = {
  achieved: '#0072b2', target: '#7f7f7f', dropped: '#d62728', p50: '#009e73', p99: '#d55e00', inFlight: '#6a3d9a',
  client: '#0072b2', server: '#e69f00', base: '#0072b2', new: '#d55e00', capacity: '#7f7f7f',
};

export type Point = [number, number | null];

export interface Line {
  label: string;
  color: string;
  points: Point[];
  kind?: ChartSeries['kind'];
  dash?: number[];
  width?: number;
  sparse?: boolean;
}

/** Aligns lines sampled at different x on the union of their x values (uPlot's data layout). */
export function align(lines: Line[]): { x: number[]; series: ChartSeries[] } {
  const xs = new Set<number>();
  for (const l of lines) for (const [x] of l.points) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const series = lines.map((l) => {
    const values: (number | null)[] = new Array(x.length).fill(null);
    for (const [px, py] of l.points) values[index.get(px)!] = py;
    const s: ChartSeries = { label: l.label, color: l.color, values };
    if (l.kind) s.kind = l.kind;
    if (l.dash) s.dash = l.dash;
    if (l.width) s.width = l.width;
    if (l.sparse) s.sparse = true;
    return s;
  });
  return { x, series };
}

export function chart(spec: Omit<ChartSpec, 'x' | 'series'> & { lines: Line[] }): ChartSpec | null {
  const lines = spec.lines.filter((l) => l.points.some(([, y]) => y !== null));
  if (lines.length === 0) return null;
  const { x, series } = align(lines);
  const { lines: _l, ...rest } = spec;
  return { ...rest, x, series };
}

/** Where each stage sits on the run's clock: seconds from the run's start to the stage's start and end. */
export interface StageClock {
  name: string;
  index: number;
  start: number;
  end: number;
}

export function stageClocks(doc: SummaryDoc): StageClock[] {
  const runStart = timeMs(doc.started_at) ?? timeMs(doc.stages[0]?.started_at);
  let cursor = 0;
  return doc.stages.map((s, index) => {
    const started = timeMs(s.started_at);
    const duration = (num(s.duration_ms) ?? 0) / 1000;
    const start = runStart !== null && started !== null ? (started - runStart) / 1000 : cursor;
    cursor = start + duration;
    return { name: str(s.name) ?? `stage ${index}`, index, start: round(start, 3), end: round(start + duration, 3) };
  });
}

export function stageBands(clocks: StageClock[]): Band[] {
  return clocks.map((c) => ({ from: c.start, to: c.end, label: c.name }));
}

interface Sample {
  /** seconds on the run's clock */
  x: number;
  /** seconds since the previous sample of the stage (or the stage's start) */
  dt: number;
  e: Obj;
}

/** A stage's entries of `field` (timeline, server_timeline) on the run's clock; `offset` moves the stage. */
function samples(stage: Obj, field: string, offset: number): Sample[] {
  const out: Sample[] = [];
  let prev = 0;
  for (const e of objs(stage[field])) {
    const t = num(e.t_s);
    if (t === null) continue;
    out.push({ x: round(offset + t, 3), dt: t - prev, e });
    prev = t;
  }
  return out;
}

function perSecond(n: number | null, dt: number): number | null {
  return n === null || !(dt > 0) ? null : round(n / dt, 3);
}

/** A null point just after each stage's end, so a line does not join one stage to the next across the pause. */
function breaks(clocks: StageClock[]): Point[] {
  return clocks.map((c) => [round(c.end + 0.001, 3), null] as Point);
}

export interface TimelineCoverage {
  stagesWithTimeline: number;
  stagesWithServerTimeline: number;
  stages: number;
}

export function timelineCoverage(doc: SummaryDoc): TimelineCoverage {
  return {
    stages: doc.stages.length,
    stagesWithTimeline: doc.stages.filter((s) => objs(s.timeline).length > 0).length,
    stagesWithServerTimeline: doc.stages.filter((s) => objs(s.server_timeline).length > 0).length,
  };
}

/** Per-stage offsets of one run's stages on a clock (its own, or another run's for an overlay). */
export type Offsets = Map<number, number>;

function ownOffsets(clocks: StageClock[]): Offsets {
  return new Map(clocks.map((c) => [c.index, c.start]));
}

interface RunSeries {
  achieved: Point[]; target: Point[]; dropped: Point[]; p50: Point[]; p99: Point[]; inFlight: Point[];
  errors: Point[]; byTwirp: Map<string, Point[]>; bySocket: Map<string, Point[]>;
  srvRequests: Point[]; srvErrors: Point[]; srvFlushP99: Point[]; poolUsed: Point[]; poolMax: Point[];
  bufferDepth: Point[]; bufferCapacity: Point[];
}

/** Every per-second series of one run, stages placed by `offsets` (stage index -> seconds). */
export function runSeries(doc: SummaryDoc, offsets: Offsets): RunSeries {
  const r: RunSeries = {
    achieved: [], target: [], dropped: [], p50: [], p99: [], inFlight: [], errors: [], byTwirp: new Map(), bySocket: new Map(),
    srvRequests: [], srvErrors: [], srvFlushP99: [], poolUsed: [], poolMax: [], bufferDepth: [], bufferCapacity: [],
  };
  const push = (m: Map<string, Point[]>, k: string, p: Point) => {
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(p);
  };
  doc.stages.forEach((stage, i) => {
    const offset = offsets.get(i);
    if (offset === undefined) return;
    const client = samples(stage, 'timeline', offset);
    for (const { x, dt, e } of client) {
      r.achieved.push([x, num(e.achieved_rate) ?? perSecond(num(e.ok), dt)]);
      r.target.push([x, num(e.target_rate)]);
      r.dropped.push([x, num(e.dropped) ? perSecond(num(e.dropped), dt) : null]);
      r.p50.push([x, positive(num(e.p50_ms))]);
      r.p99.push([x, positive(num(e.p99_ms))]);
      r.inFlight.push([x, num(e.in_flight)]);
      r.errors.push([x, perSecond(num(e.errors), dt)]);
    }
    // Codes are filled with 0 where an interval had none, so a code's line drops to zero instead of vanishing.
    const twirp = new Set<string>();
    const socket = new Set<string>();
    for (const { e } of client) {
      for (const k of Object.keys(counts(e.by_twirp_code))) if (k !== 'ok') twirp.add(k);
      for (const k of Object.keys(counts(e.by_error_code))) socket.add(k);
    }
    for (const { x, dt, e } of client) {
      const t = counts(e.by_twirp_code);
      const s = counts(e.by_error_code);
      for (const k of twirp) push(r.byTwirp, k, [x, perSecond(t[k] ?? 0, dt)]);
      for (const k of socket) push(r.bySocket, k, [x, perSecond(s[k] ?? 0, dt)]);
    }
    for (const { x, dt, e } of samples(stage, 'server_timeline', offset)) {
      r.srvRequests.push([x, perSecond(num(e.requests), dt)]);
      r.srvErrors.push([x, perSecond(num(e.errors), dt)]);
      r.srvFlushP99.push([x, num(e.flush_p99_ms)]);
      r.poolUsed.push([x, num(e.pool_used)]);
      r.poolMax.push([x, num(e.pool_max)]);
      r.bufferDepth.push([x, num(e.buffer_depth)]);
      r.bufferCapacity.push([x, num(e.buffer_capacity)]);
    }
  });
  return r;
}

function positive(v: number | null): number | null {
  return v !== null && v > 0 ? v : null;
}

/** Log scale when the values span more than two decades (a spike next to a quiet baseline stays readable). */
function wantsLog(lines: Line[]): boolean {
  const ys = lines.flatMap((l) => l.points.map(([, y]) => y)).filter((y): y is number => y !== null && y > 0);
  if (ys.length === 0) return false;
  return Math.max(...ys) / Math.min(...ys) > 100;
}

function withBreaks(points: Point[], clocks: StageClock[]): Point[] {
  return points.length === 0 ? points : [...points, ...breaks(clocks)];
}

/** The run's time charts; charts whose data is absent are left out (the report says what is missing). */
export function timeCharts(doc: SummaryDoc): ChartSpec[] {
  const clocks = stageClocks(doc);
  const bands = stageBands(clocks);
  const r = runSeries(doc, ownOffsets(clocks));
  const b = (p: Point[]) => withBreaks(p, clocks);
  const charts: (ChartSpec | null)[] = [];
  charts.push(chart({
    id: 'rate', title: 'Request rate', note: 'answers per second, the target of open-model stages, and arrivals dropped (maxInFlight reached)',
    yLabel: 'req/s', xKind: 'time', bands, lines: [
      { label: 'achieved', color: COLORS.achieved, points: b(r.achieved), width: 2 },
      { label: 'target', color: COLORS.target, points: b(r.target), dash: [6, 4] },
      { label: 'dropped/s', color: COLORS.dropped, points: r.dropped, kind: 'points' },
    ],
  }));
  const lat: Line[] = [
    { label: 'p50', color: COLORS.p50, points: b(r.p50), width: 2 },
    { label: 'p99', color: COLORS.p99, points: b(r.p99), width: 2 },
  ];
  charts.push(chart({
    id: 'latency', title: 'Latency per second', note: 'p50 and p99 of the answers in each interval (open model: from the scheduled start)',
    yLabel: 'ms', xKind: 'time', bands, yLog: wantsLog(lat), lines: lat,
  }));
  const twirp = [...r.byTwirp.entries()].map(([k, p], i) => ({ label: k, color: PALETTE[i % PALETTE.length]!, points: b(p), kind: 'step' as const }));
  charts.push(chart({
    id: 'errors-twirp', title: 'Errors per second by Twirp code', note: 'answers with a Twirp error code, per second', yLabel: 'errors/s',
    xKind: 'time', bands, lines: twirp.filter((l) => l.points.some(([, y]) => (y ?? 0) > 0)),
  }));
  const socket = [...r.bySocket.entries()].map(([k, p], i) => ({ label: k, color: PALETTE[(i + 3) % PALETTE.length]!, points: b(p), kind: 'step' as const }));
  charts.push(chart({
    id: 'errors-socket', title: 'Socket errors per second', note: 'requests lost on the connection (no answer), by error code',
    yLabel: 'errors/s', xKind: 'time', bands, lines: socket.filter((l) => l.points.some(([, y]) => (y ?? 0) > 0)),
  }));
  charts.push(chart({
    id: 'in-flight', title: 'In flight', note: 'requests sent and not yet answered, at the end of each interval', yLabel: 'requests',
    xKind: 'time', bands, lines: [{ label: 'in flight', color: COLORS.inFlight, points: b(r.inFlight), width: 2 }],
  }));
  charts.push(chart({
    id: 'server-requests', title: 'Requests: client vs server', note: 'answers per second the bench saw, and Push requests per second the service counted (/metrics)',
    yLabel: 'req/s', xKind: 'time', bands, lines: [
      { label: 'client', color: COLORS.client, points: b(r.achieved), width: 2 },
      { label: 'server', color: COLORS.server, points: r.srvRequests, width: 2, dash: [5, 3], sparse: true },
    ],
  }));
  const anyErrors = r.errors.some(([, y]) => (y ?? 0) > 0) || r.srvErrors.some(([, y]) => (y ?? 0) > 0);
  if (anyErrors) {
    charts.push(chart({
      id: 'server-errors', title: 'Errors: client vs server', note: 'errors per second the bench saw (answers and socket failures), and the service\'s error answers',
      yLabel: 'errors/s', xKind: 'time', bands, lines: [
        { label: 'client', color: COLORS.client, points: b(r.errors), width: 2 },
        { label: 'server', color: COLORS.server, points: r.srvErrors, width: 2, dash: [5, 3], sparse: true },
      ],
    }));
  }
  charts.push(chart({
    id: 'server-flush', title: 'Flush time p99 (server)', note: 'the group commit\'s INSERT time, p99 per scrape', yLabel: 'ms', xKind: 'time', bands,
    lines: [{ label: 'flush p99', color: COLORS.server, points: r.srvFlushP99, width: 2, sparse: true }],
  }));
  charts.push(chart({
    id: 'server-pool', title: 'Database pool (server)', note: 'connections in use against the pool\'s maximum', yLabel: 'connections', xKind: 'time', bands,
    lines: [
      { label: 'used', color: COLORS.server, points: r.poolUsed, width: 2, sparse: true },
      { label: 'max', color: COLORS.capacity, points: r.poolMax, dash: [6, 4], sparse: true },
    ],
  }));
  charts.push(chart({
    id: 'server-buffer', title: 'Write buffer (server)', note: 'Pushes waiting for a flush against the buffer\'s capacity', yLabel: 'pushes', xKind: 'time', bands,
    lines: [
      { label: 'depth', color: COLORS.server, points: r.bufferDepth, width: 2, sparse: true },
      { label: 'capacity', color: COLORS.capacity, points: r.bufferCapacity, dash: [6, 4], sparse: true },
    ],
  }));
  const workers = workerLines(doc, ownOffsets(clocks));
  if (workers.length > 0) {
    charts.push(chart({
      id: 'workers', title: 'Rate per worker', note: 'answers per second of each load worker', yLabel: 'req/s', xKind: 'time', bands, lines: workers,
    }));
  }
  return charts.filter((c): c is ChartSpec => c !== null);
}

/** workers[].timeline[] ({t_s, achieved_rate} on the run's clock, or per stage with `stage`), when distributed. */
function workerLines(doc: SummaryDoc, offsets: Offsets): Line[] {
  const names = new Map(doc.stages.map((s, i) => [str(s.name), i]));
  return objs(doc.workers).map((w, i) => {
    const points: Point[] = [];
    for (const e of objs(w.timeline)) {
      const t = num(e.t_s);
      if (t === null) continue;
      const stageIndex = typeof e.stage === 'number' ? e.stage : names.get(str(e.stage));
      const off = stageIndex === undefined ? 0 : (offsets.get(stageIndex) ?? 0);
      points.push([round(off + t, 3), num(e.achieved_rate)]);
    }
    const host = str(w.host);
    const label = `worker ${num(w.index) ?? i}${host ? ` (${host})` : ''}`;
    // workers cut their intervals a few ms apart: each line is drawn across the others' instants
    return { label, color: PALETTE[i % PALETTE.length]!, points, width: 1.5, sparse: true };
  }).filter((l) => l.points.length > 0);
}

/** One series per stage: latency (and open model, service time) against 1/(1-p). */
export function spectrumChart(doc: SummaryDoc, id = 'spectrum'): ChartSpec | null {
  const lines: Line[] = [];
  doc.stages.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const lat = spectrumFromHdr(s.latency_hdr);
    if (lat && lat.x.length > 0) lines.push({ label: str(s.name) ?? `stage ${i}`, color, width: 2, points: lat.x.map((x, j) => [x, lat.ms[j]!]) });
    const svc = spectrumFromHdr(s.service_time_hdr);
    if (svc && svc.x.length > 0) lines.push({ label: `${str(s.name) ?? `stage ${i}`} (service time)`, color, dash: [5, 3], points: svc.x.map((x, j) => [x, svc.ms[j]!]) });
  });
  return spectrumOf(lines, id, 'Latency percentile spectrum', 'every answer of each stage from its HDR histogram; x is 1/(1-p): 2 = p50, 10 = p90, 100 = p99, 1000 = p99.9');
}

export function spectrumOf(lines: Line[], id: string, title: string, note: string): ChartSpec | null {
  const spread = lines.map((l) => ({ ...l, sparse: true }));
  return chart({ id, title, note, yLabel: 'ms', xKind: 'percentile', yLog: wantsLog(spread), bands: [], lines: spread });
}

/** Charts of two runs drawn over each other: the new run's stages placed on the base run's clock by name. */
export function overlayCharts(base: SummaryDoc, next: SummaryDoc): ChartSpec[] {
  const clocks = stageClocks(base);
  const bands = stageBands(clocks);
  const baseOffsets = ownOffsets(clocks);
  const byName = new Map(clocks.map((c) => [c.name, c.start]));
  const nextOffsets: Offsets = new Map();
  next.stages.forEach((s, i) => {
    const o = byName.get(str(s.name) ?? '');
    if (o !== undefined) nextOffsets.set(i, o);
  });
  const a = runSeries(base, baseOffsets);
  const n = runSeries(next, nextOffsets);
  const b = (p: Point[]) => withBreaks(p, clocks);
  const both = (ka: Point[], kn: Point[], what: string): Line[] => [
    { label: `base ${what}`, color: COLORS.base, points: b(ka), width: 2, sparse: true },
    { label: `new ${what}`, color: COLORS.new, points: b(kn), width: 2, dash: [6, 3], sparse: true },
  ];
  const charts: (ChartSpec | null)[] = [];
  charts.push(chart({ id: 'cmp-rate', title: 'Achieved rate', yLabel: 'req/s', xKind: 'time', bands, lines: both(a.achieved, n.achieved, 'achieved') }));
  const p99 = both(a.p99, n.p99, 'p99');
  const p50 = both(a.p50, n.p50, 'p50').map((l) => ({ ...l, width: 1, color: l.color === COLORS.base ? '#56b4e9' : '#e69f00' }));
  charts.push(chart({ id: 'cmp-latency', title: 'Latency p50 / p99 per second', yLabel: 'ms', xKind: 'time', bands, yLog: wantsLog([...p99, ...p50]), lines: [...p99, ...p50] }));
  charts.push(chart({ id: 'cmp-errors', title: 'Errors per second', yLabel: 'errors/s', xKind: 'time', bands, lines: both(a.errors, n.errors, 'errors') }));
  const spectra: Line[] = [];
  const nextByName = new Map(next.stages.map((s) => [str(s.name), s]));
  base.stages.forEach((s, i) => {
    const other = nextByName.get(str(s.name));
    const color = PALETTE[i % PALETTE.length]!;
    const sa = spectrumFromHdr(s.latency_hdr);
    const sn = other ? spectrumFromHdr(other.latency_hdr) : null;
    if (sa && sa.x.length) spectra.push({ label: `base ${str(s.name)}`, color, width: 2, points: sa.x.map((x, j) => [x, sa.ms[j]!]) });
    if (sn && sn.x.length) spectra.push({ label: `new ${str(s.name)}`, color, width: 2, dash: [6, 3], points: sn.x.map((x, j) => [x, sn.ms[j]!]) });
  });
  charts.push(spectrumOf(spectra, 'cmp-spectrum', 'Latency percentile spectrum', 'base solid, new dashed; x is 1/(1-p): 100 = p99'));
  return charts.filter((c): c is ChartSpec => c !== null);
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
