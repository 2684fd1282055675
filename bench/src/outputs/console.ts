// Output `console`: a live progress line per stage on a TTY, then a wrk-like table per stage with the server's
// counts next to the client's. Printers return strings (formatProgress, formatSummary); the output only writes
// what they return through the writers the CLI hands it.
import type { BenchEvent, LatencySummary, Output, Profile, RunInfo, StageResult, StageSnapshot, Summary, ThresholdResult } from '../types';
import { formatDuration } from '../profiles/duration';
import type { WarmupSummary } from '../warmup';

export interface ConsoleOutputOptions {
  /** Where the final table goes (stdout, or stderr when --json owns stdout). */
  write: (text: string) => void;
  /** Where the live line goes (stderr); omit for no live line (not a TTY, or --quiet). */
  progress?: (text: string) => void;
  profile?: Profile;
  /** Terminal width for the live line (it is cut to fit so \r can overwrite it). */
  columns?: number;
  /** Kibana's base URL (--kibana): the worst requests get a link to their trace. */
  kibana?: string;
}

export function consoleOutput(opts: ConsoleOutputOptions): Output {
  let run: RunInfo | undefined;
  let lineShown = false;
  // stage tables already written at their stage's end: the run's end then adds only what concerns the whole run
  const printed = new Set<string>();
  let prev: { stage: number; elapsedMs: number; completed: number } | undefined;
  const clear = () => {
    if (lineShown && opts.progress) opts.progress('\r\x1b[2K');
    lineShown = false;
  };
  let headed = false;
  const header = () => {
    if (headed || !run) return;
    headed = true;
    opts.write(`${runHeader(run.runId, run.profile, run.target)}\n`);
  };
  return {
    name: 'console',
    writesSummary: true,
    async start(r: RunInfo) {
      run = r;
    },
    add(e: BenchEvent) {
      if (e.type === 'tick') {
        if (!opts.progress) return;
        // the rate over the last tick, not the average since the stage started
        const p = prev !== undefined && prev.stage === e.stage.index && e.snapshot.elapsedMs > prev.elapsedMs ? prev : undefined;
        const current = p ? ((e.snapshot.counts.completed - p.completed) / (e.snapshot.elapsedMs - p.elapsedMs)) * 1000 : undefined;
        prev = { stage: e.stage.index, elapsedMs: e.snapshot.elapsedMs, completed: e.snapshot.counts.completed };
        const line = formatProgress(e.stage.index, run?.stages.length ?? 0, e.stage.name, e.stage.durationMs, e.snapshot, current);
        opts.progress(`\r\x1b[2K${line.slice(0, Math.max(20, (opts.columns || 120) - 1))}`);
        lineShown = true;
      } else if (e.type === 'warmup') {
        clear();
        header();
        opts.write(`${formatWarmup(e.warmup)}\n`);
      } else if (e.type === 'stage-end') {
        clear();
        prev = undefined;
        const total = run?.stages.length ?? 0;
        header();
        opts.write(['', ...formatStage(e.result, e.stage.index, total, e.thresholds ?? [], opts.profile, opts.kibana)].join('\n') + '\n');
        printed.add(e.result.name);
        if (opts.progress && opts.progress !== opts.write) {
          const r = e.result;
          opts.progress(
            `stage ${e.stage.index + 1}/${total} ${r.name}: ${r.counts.sent} sent, ${r.counts.ok} ok, ` +
            `${r.counts.errors} errors, ${fmtRate(r.rate.achieved)} req/s, p99 ${fmtMs(r.latency_ms.p99)}\n`,
          );
        }
      }
    },
    async stop(summary: Summary) {
      clear();
      const all = summary.stages.every((st) => printed.has(st.name));
      opts.write(printed.size > 0 && all ? formatRunEnd(summary) : formatSummary(summary, opts.profile, opts.kibana));
    },
  };
}

function runHeader(runId: string, profile: string, target: string): string {
  return `Run ${runId}: profile ${profile} against ${target}`;
}

/**
 * The live line: the rate now (over the last tick when `currentRate` is given, else the stage's average) against
 * the target now (open model), the errors with their top classes, in flight and p99.
 */
export function formatProgress(index: number, total: number, name: string, durationMs: number, s: StageSnapshot, currentRate?: number): string {
  const pct = durationMs > 0 ? Math.min(100, Math.round((s.elapsedMs / durationMs) * 100)) : 0;
  const target = s.targetRate !== null ? `/${fmtRate(s.targetRate)}` : '';
  const classes = topErrorClasses(s);
  return (
    `[${index + 1}/${total}] ${name} ${formatDuration(s.elapsedMs)}/${formatDuration(durationMs)} ${pct}% | ` +
    `${fmtRate(currentRate ?? s.achievedRate)}${target} req/s | ok ${s.counts.ok} err ${s.counts.errors}` +
    (classes ? ` (${classes})` : '') +
    (s.counts.dropped ? ` dropped ${s.counts.dropped}` : '') +
    ` | in flight ${s.inFlight} | p99 ${fmtMs(s.latency_ms.p99)}`
  );
}

export function formatWarmup(w: WarmupSummary): string {
  const load = w.model === 'open' ? `${fmtRate(w.rate ?? 0)} req/s` : `${w.connections} connections`;
  return `Warm-up (not part of any stage): ${formatDuration(w.duration_ms)} at ${load}, ${w.sent} sent, ${w.ok} ok, ` +
    `${w.errors} errors${w.dropped ? `, ${w.dropped} dropped` : ''}, p99 ${fmtMs(w.p99_ms)}`;
}

/** The two commonest error classes as shares of the errors: Twirp codes, socket codes, timeouts. */
export function topErrorClasses(s: { counts: { errors: number; timeouts: number }; by_twirp_code: Record<string, number>; by_error_code: Record<string, number> }, n = 2): string {
  if (s.counts.errors === 0) return '';
  const classes: [string, number][] = Object.entries(s.by_twirp_code).filter(([k]) => k !== 'ok');
  classes.push(...Object.entries(s.by_error_code));
  if (s.counts.timeouts > 0) classes.push(['timeout', s.counts.timeouts]);
  return classes
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${fmtPct(v / s.counts.errors)}`)
    .join(', ');
}

export function formatSummary(summary: Summary, profile?: Profile, kibana?: string): string {
  const out: string[] = [runHeader(summary.run_id, summary.profile, summary.target)];
  if (summary.warmup) out.push(formatWarmup(summary.warmup));
  summary.stages.forEach((st, i) => {
    out.push('');
    out.push(...formatStage(st, i, summary.stages.length, summary.thresholds.filter((t) => t.stage === st.name), profile, kibana));
  });
  return out.join('\n') + '\n' + formatRunEnd(summary);
}

/** What concerns the run as a whole: run thresholds, breakpoint, A/B, warnings, why it stopped, the verdict. */
export function formatRunEnd(summary: Summary): string {
  const out: string[] = [];
  const stageNames = new Set(summary.stages.map((s) => s.name));
  const runLevel = summary.thresholds.filter((t) => t.stage === null || !stageNames.has(t.stage));
  if (runLevel.length > 0) {
    out.push('');
    out.push('Run thresholds');
    for (const t of runLevel) out.push(`  ${fmtThreshold(t)}${t.stage === null ? '' : `  [${t.stage}]`}`);
  }
  if (summary.breakpoint) {
    out.push('');
    out.push(`Breakpoint: ${breakpointText(summary)}`);
  }
  if (summary.apm_ab) {
    out.push('');
    out.push(...formatApmAb(summary.apm_ab));
  }
  const workers = (summary as Summary & { workers?: WorkerLine[] }).workers ?? [];
  if (workers.length > 0) {
    out.push('');
    out.push(...formatWorkers(workers));
  }
  const warnings = (summary as Summary & { warnings?: string[] }).warnings ?? [];
  if (warnings.length > 0) {
    out.push('');
    out.push('Warnings');
    for (const w of warnings) out.push(`  ${w}`);
  }
  const abortReason = (summary as Summary & { abort_reason?: string }).abort_reason;
  if (abortReason) {
    out.push('');
    out.push(`Aborted (abortOnFail): ${abortReason}`);
  }
  const error = (summary as Summary & { error?: string }).error;
  if (error) {
    out.push('');
    out.push(`Run failed: ${error}`);
  }
  out.push('');
  const failed = summary.thresholds.filter((t) => !t.passed).length;
  out.push(
    summary.passed
      ? summary.thresholds.length === 0
        ? 'PASSED: no thresholds to check'
        : `PASSED: all ${summary.thresholds.length} threshold checks held${summary.aborted ? ' (run aborted)' : ''}`
      : failed > 0
        ? `FAILED: ${failed} of ${summary.thresholds.length} threshold checks failed${summary.aborted ? '; run aborted' : ''}`
        : `NOT PASSED${error ? ': the run failed' : summary.aborted ? ': run aborted' : ''}`,
  );
  return out.join('\n') + '\n';
}

/** What the table shows of summary.workers[] (distributed runs; the full shape is distributed/coordinator.ts). */
interface WorkerLine {
  index: number;
  host: string | null;
  status: string;
  sent: number;
  ok: number;
  errors: number;
  achieved_rate: number;
  clock_offset_ms: number | null;
  max_start_skew_ms: number | null;
}

/** One line per worker: its part of the load, and how well it kept time (clock offset, start skew). */
export function formatWorkers(ws: WorkerLine[]): string[] {
  const ms = (v: number | null) => (v === null ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(3)}ms`);
  const rows = ws.map((w) => [String(w.index), w.host ?? '-', w.status, String(w.sent), String(w.ok), String(w.errors), fmtRate(w.achieved_rate), ms(w.clock_offset_ms), ms(w.max_start_skew_ms)]);
  const head = ['#', 'host', 'status', 'sent', 'ok', 'errors', 'req/s', 'clock offset', 'start skew'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((c, i) => (i <= 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')}`.trimEnd();
  return [`Workers (${ws.length})`, line(head), ...rows.map(line)];
}

/** The breakpoint's verdict in words (summary.breakpoint.text when the run wrote one). */
function breakpointText(summary: Summary): string {
  const b = summary.breakpoint!;
  if ((b as { text?: string }).text) return (b as { text?: string }).text!;
  return `highest rate that held every threshold: ${b.highest_rate_held === null ? 'none' : `${fmtRate(b.highest_rate_held)} req/s`}` +
    (b.first_failed_stage ? ` (first failing stage: ${b.first_failed_stage})` : ' (no stage failed)');
}

function formatStage(st: StageResult, i: number, n: number, thresholds: ThresholdResult[], profile?: Profile, kibana?: string): string[] {
  // --apm-ab runs name their stages "apm-off/<stage>" and "apm-on/<stage>"
  const spec = profile?.stages.find((s) => s.name === st.name || st.name.endsWith(`/${s.name}`));
  let shape = st.model;
  if (spec?.model === 'closed') shape += `, ${spec.connections}${spec.rampTo !== undefined ? `->${spec.rampTo}` : ''} connections`;
  if (spec?.model === 'open') shape += `, ${spec.rate}${spec.rampTo !== undefined ? `->${spec.rampTo}` : ''} req/s, max ${spec.maxInFlight} in flight on ${spec.maxConnections ?? spec.maxInFlight} connections`;
  const lines = [`Stage ${i + 1}/${n} ${st.name} (${shape}, ${formatDuration(st.duration_ms)})`];
  const row = (label: string, l: LatencySummary) =>
    `  ${label.padEnd(10)}` + [l.p50, l.p90, l.p99, l.p999, l.max, l.mean].map((v) => fmtMs(v).padStart(10)).join('');
  lines.push(`  ${'Latency'.padEnd(10)}` + ['p50', 'p90', 'p99', 'p99.9', 'max', 'mean'].map((h) => h.padStart(10)).join(''));
  lines.push(row(st.model === 'open' ? 'scheduled' : 'client', st.latency_ms));
  if (st.service_time_ms) lines.push(row('service', st.service_time_ms));
  const c = st.counts;
  lines.push(`  Requests  ${c.sent} sent, ${c.completed} answered, ${c.ok} ok, ${c.errors} errors (${c.timeouts} timeouts), ${c.dropped} dropped`);
  const target = st.rate.target !== null
    ? ` (target ${fmtRate(st.rate.target)}, ${st.rate.target > 0 ? ((st.rate.achieved / st.rate.target) * 100).toFixed(1) : '-'}%)`
    : '';
  lines.push(`  Rate      ${fmtRate(st.rate.achieved)} req/s${target}`);
  lines.push(`  Transfer  ${fmtBytes(st.bytes.sent)} sent, ${fmtBytes(st.bytes.received)} received`);
  if (Object.keys(st.by_status).length) lines.push(`  Status    ${fmtMap(st.by_status)}`);
  if (Object.keys(st.by_error_code).length) lines.push(`  Socket    ${fmtMap(st.by_error_code)}`);
  lines.push(...formatCorrelation(st));
  lines.push(...formatGenerator(st));
  lines.push(...formatServerSide(st));
  if (st.outage) {
    const o = st.outage;
    lines.push(`  Outage    errors from ${o.started_at_s} s to ${o.ended_at_s === null ? 'the end of the stage' : `${o.ended_at_s} s`}` +
      (o.ended_at_s === null ? '' : o.recovery_s === null ? ', not recovered within the stage' : `, back to the rate before ${o.recovery_s} s later`));
  }
  lines.push(...formatWorst(st, kibana));
  for (const t of thresholds) lines.push(`  ${fmtThreshold(t)}`);
  for (const d of st.diagnosis ?? []) lines.push(`  ${d.severity === 'error' ? 'CAUSE' : d.severity === 'warn' ? 'Cause' : 'Note '}     ${d.text}`);
  return lines;
}

/** The bench's own behaviour in the stage, and a warning when it could not keep up (its latency is then its own). */
export function formatGenerator(st: StageResult): string[] {
  const g = st.generator;
  if (!g) return [];
  const lag = g.schedule_lag_ms ? `, schedule lag p50/p99/max ${fmtMs(g.schedule_lag_ms.p50)}/${fmtMs(g.schedule_lag_ms.p99)}/${fmtMs(g.schedule_lag_ms.max)}` : '';
  const lines = [
    `  Generator loop delay p99 ${fmtMs(g.event_loop_delay_ms.p99)} (max ${fmtMs(g.event_loop_delay_ms.max)}), busy ${Math.round(g.loop_utilization * 100)}%, ` +
      `GC ${fmtMs(g.gc_pause_ms.total)} (max ${fmtMs(g.gc_pause_ms.max)})${lag}; latency floor ${fmtMs(g.latency_floor_ms)}`,
  ];
  if (g.saturated) {
    lines.push(`  WARNING   the load generator was saturated (${g.saturated_because.join('; ')}): this stage's latency and rate ` +
      'include the bench\'s own delay, not only the service\'s');
  }
  return lines;
}

/** How many of the slowest and first failed requests the table shows (summary.json keeps more). */
export const WORST_SHOWN = 5;

/** A trace in Kibana's APM app (its link-to route resolves a trace id to the trace's page). */
export function kibanaTraceUrl(kibana: string, traceId: string): string {
  return `${kibana.replace(/\/+$/, '')}/app/apm/link-to/trace/${traceId}`;
}

/** The slowest answers and the first failures with their trace ids (and a Kibana link with --kibana). */
export function formatWorst(st: StageResult, kibana?: string): string[] {
  const w = st.worst;
  if (!w) return [];
  const line = (label: string, r: NonNullable<StageResult['worst']>['slowest'][number]) => {
    const what = r.status === 0 ? (r.error_code ?? 'no answer') : `${r.status} ${r.twirp_code ?? ''}`.trim();
    return `  ${label.padEnd(9)} at ${`${(r.at_ms / 1000).toFixed(2)}s`.padStart(7)} ${fmtMs(r.latency_ms).padStart(9)}  ${what.padEnd(24)} trace ${r.trace_id}` +
      ` ${r.sampled ? '(traced)' : '(not traced: find it by trace.id in the service log)'}` +
      (kibana && r.sampled ? `  ${kibanaTraceUrl(kibana, r.trace_id)}` : '');
  };
  const out: string[] = [];
  w.slowest.slice(0, WORST_SHOWN).forEach((r, i) => out.push(line(i === 0 ? 'Slowest' : '', r)));
  w.failed.slice(0, WORST_SHOWN).forEach((r, i) => out.push(line(i === 0 ? 'Failed' : '', r)));
  return out;
}

/** Where the service spent the stage (flush, pool wait, rows per flush) and its high-water marks beside capacity. */
export function formatServerSide(st: StageResult): string[] {
  const lines: string[] = [];
  const t = st.server_time;
  if (t && t.flushes > 0) {
    const parts = [`${t.flushes} flushes, p50 ${fmtOpt(t.flush_ms.p50)} p99 ${fmtOpt(t.flush_ms.p99)}`];
    if (t.acquire_wait_ms.p99 !== null) parts.push(`pool wait p99 ${fmtOpt(t.acquire_wait_ms.p99)}`);
    if (t.rows_per_flush.mean !== null) parts.push(`${t.rows_per_flush.mean} rows per flush`);
    lines.push(`  Server    ${parts.join(', ')}`);
  }
  const p = st.peaks;
  if (p) {
    const parts: string[] = [];
    if (p.buffer.peak !== null) parts.push(`buffer ${p.buffer.peak}${p.buffer.capacity !== null ? `/${p.buffer.capacity}` : ''}`);
    if (p.pool.peak !== null && (p.pool.max ?? 0) > 0) parts.push(`pool ${p.pool.peak}/${p.pool.max}`);
    if (p.in_flight.peak !== null) parts.push(`in flight ${p.in_flight.peak}`);
    if (parts.length > 0) lines.push(`  Peaks     ${parts.join(', ')} (high-water marks on the service)`);
  }
  return lines;
}

function fmtOpt(ms: number | null): string {
  return ms === null ? '-' : fmtMs(ms);
}

/** Client and server side by side: requests, then each Twirp code either side saw, then rows. */
export function formatCorrelation(st: StageResult): string[] {
  const codes = new Set([...Object.keys(st.by_twirp_code), ...Object.keys(st.server?.by_twirp_code ?? {})]);
  const ordered = ['ok', ...[...codes].filter((c) => c !== 'ok').sort()];
  const shown = Object.keys(st.server?.extra ?? {}).filter((k) => /^(flush_failures|db_connection_timeouts|db_connection_errors)/.test(k));
  const W = Math.max(26, ...shown.map((k) => k.length + 9));
  const lines = [`  ${''.padEnd(W)}${'client'.padStart(10)}${'server'.padStart(10)}`];
  const s = st.server;
  const cell = (v: number | undefined) => (v === undefined ? '-' : String(v)).padStart(10);
  const unknown = Math.max(0, st.counts.sent - st.counts.completed);
  lines.push(`  ${'answered'.padEnd(W)}${cell(st.counts.completed)}${cell(s?.requests)}`);
  for (const code of ordered) {
    if (!codes.has(code)) continue;
    lines.push(`  ${`  twirp ${code}`.padEnd(W)}${cell(st.by_twirp_code[code] ?? 0)}${cell(s ? (s.by_twirp_code[code] ?? 0) : undefined)}`);
  }
  if (unknown > 0) lines.push(`  ${'no answer (fate unknown)'.padEnd(W)}${cell(unknown)}`);
  if (s?.rows_written !== undefined) lines.push(`  ${'rows written'.padEnd(W)}${cell(st.counts.ok)}${cell(s.rows_written)}`);
  if (s?.rows_written !== undefined && s.rows_written > st.counts.ok && unknown > 0) {
    lines.push(`  ${s.rows_written - st.counts.ok} row(s) beyond the client's acks: pushes whose caller hung up (or timed out) were still written`);
  }
  if (s?.extra) {
    const interesting = Object.keys(s.extra)
      .filter((k) => /^(flush_failures|db_connection_timeouts|db_connection_errors)(:|$)/.test(k) && (s.extra?.[k] ?? 0) > 0)
      .sort();
    for (const k of interesting) lines.push(`  ${`server ${k}`.padEnd(W)}${''.padStart(10)}${cell(s.extra[k])}`);
  }
  if (!s) lines.push('  (no server counts: /metrics not readable)');
  else if (s.disagreements.length === 0) lines.push('  client and server agree');
  else for (const d of s.disagreements) lines.push(`  DISAGREE: ${d}`);
  return lines;
}

function formatApmAb(ab: Record<string, unknown>): string[] {
  const lines = ['APM A/B (on / off)'];
  const stages = (ab.stages ?? []) as { name: string; achieved_rate_ratio: number | null; p99_ratio: number | null }[];
  for (const s of stages) {
    lines.push(`  ${s.name.padEnd(24)} achieved rate x${fmtRatio(s.achieved_rate_ratio)}   p99 x${fmtRatio(s.p99_ratio)}`);
  }
  const o = ab.overall as { achieved_rate_ratio: number | null; p99_ratio: number | null } | undefined;
  if (o) lines.push(`  ${'overall'.padEnd(24)} achieved rate x${fmtRatio(o.achieved_rate_ratio)}   p99 x${fmtRatio(o.p99_ratio)}`);
  return lines;
}

function fmtThreshold(t: ThresholdResult): string {
  const measured = t.note ?? (t.value === null ? 'n/a'
    : `measured ${isShare(t.expr) ? fmtPct(t.value) : isLatency(t.expr) ? fmtMs(t.value) : fmtNum(t.value)}`);
  return `${t.passed ? 'ok  ' : 'FAIL'} ${t.expr}  (${measured})`;
}

/** Thresholds whose value is a share: error, timeout and dropped rates, and an achieved rate as a share of the target. */
function isShare(expr: string): boolean {
  return /^\s*(error_rate|timeout_rate|dropped_rate)\b/i.test(expr) || /%\s*of\s+target\s*$/i.test(expr);
}

function isLatency(expr: string): boolean {
  return /^\s*(service_)?(p50|p90|p99|p999|p99\.9|max|mean|med|avg)\s*[<>=!]/i.test(expr);
}

export function fmtPct(share: number): string {
  const p = share * 100;
  if (p === 0 || p >= 10) return `${Math.round(p * 10) / 10}%`.replace(/\.0%$/, '%');
  return `${Math.round(p * 100) / 100}%`;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${(ms * 1000).toFixed(0)}us`;
  if (ms < 1000) return `${ms.toFixed(2)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

function fmtRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

function fmtRatio(r: number | null): string {
  return r === null ? '-' : r.toFixed(3);
}

function fmtNum(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 10000) / 10000);
}

function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${(b / 1024 / 1024).toFixed(1)} MiB`;
}

function fmtMap(m: Record<string, number>): string {
  return Object.entries(m).map(([k, v]) => `${k}=${v}`).join(' ');
}
