// One run of a profile against one target: stages in sequence, each one bracketed by /metrics scrapes (and row
// counts with MYSQL_URL), events to the outputs, thresholds at every stage's end and for the run at the end,
// abortOnFail, and the run's summary. The run never prints and never starts or stops the outputs: whoever composes
// runs (commands/run.ts, apm-ab.ts) starts them once, and finishes and writes the summary once
// (autocannon's run/printResult split; k6's output Start/Stop around the whole test).
import { SCHEMA_VERSION, type BenchEvent, type Profile, type RunInfo, type StageInfo, type StageResult, type StageSpec, type Summary, type ThresholdResult } from './types';
import { gitCommit } from './git-commit';
import type { StageContext } from './executors/stage-context';
import { aggregateStages, evaluate, failedEarly, subjectFromSnapshot, subjectFromStage, type Threshold, type ThresholdSubject } from './metrics/thresholds';
import { MemorySampler } from './metrics/memory-sampler';
import type { RowCounter } from './target/mysql-rows';
import type { MysqlStatus } from './target/mysql-status';
import { StageObserver } from './target/stage-observer';
import { benchWindow } from './target/server-timeline';
import { diagnose } from './diagnosis/index';
import { outage } from './diagnosis/outage';
import { breakpointVerdict } from './diagnosis/breakpoint';
import { LAG_P99_MS } from './diagnosis/generator-saturated';
import type { GeneratorEvidence } from './diagnosis/evidence';
import { stageEvidence } from './diagnosis/stage-evidence';
import { StageTimeline } from './metrics/stage-timeline';
import { kibanaTraceUrl } from './outputs/console';
import { runClosedStage } from './executors/closed';
import { runOpenStage } from './executors/open';
import { ConnectionCarry } from './executors/connection-set';
import { processWarmedUp, runWarmup, warmupStage, type WarmupSummary } from './warmup';

export type StageExecutor = (stage: StageSpec, ctx: StageContext) => Promise<StageResult>;

export interface Executors {
  closed: StageExecutor;
  open: StageExecutor;
}

export interface RunOptions {
  profile: Profile;
  /** Base URL of the target, e.g. http://127.0.0.1:8080 */
  target: string;
  runId: string;
  /** Where the run's events go (an OutputSet the caller has started). */
  outputs: { add(event: BenchEvent): void };
  /** When several runs share one set of outputs (--apm-ab), the index of this run's first stage among all of them. */
  firstStageIndex?: number;
  /** Defaults to the real executors (executors/closed.ts, executors/open.ts). */
  executors?: Executors;
  /** Abort = end the current stage now and run no more (Ctrl-C). */
  signal?: AbortSignal;
  /** Read the target's /metrics around each stage (default true). */
  scrape?: boolean;
  /** Counts rows in `incoming` around each stage (MYSQL_URL). */
  rows?: RowCounter;
  /** Reads MySQL's max_connections and connection counts around each stage (MYSQL_URL). */
  mysql?: MysqlStatus;
  /** Resolves when the self-started service exits: the run ends at once with an error (exit 1). */
  serviceExit?: Promise<{ code: number | null; signal: string | null }>;
  /** Kibana's base URL: the worst requests the service traced get a trace_url. */
  kibana?: string;
  /** How long to wait after a stage for the server's counters (and rows) to catch up with the client's (default 5 s). */
  settleMs?: number;
  log?: (obj: Record<string, unknown>, msg: string) => void;
  /**
   * Warm the bench up for this long before the first stage, unless this process already did (warmup.ts);
   * 0 or absent: no warm-up (the CLI's default is DEFAULT_WARMUP_MS).
   */
  warmupMs?: number;
}

/** summary.json: the fixed Summary plus what went wrong around the run (scrapes, outputs). */
export interface RunSummary extends Summary {
  schema_version: number;
  /** What went wrong around the run; finished (the outputs' failures included) before summary.json is written. */
  warnings: string[];
  /** Set when the run could not finish (an executor failed); the CLI exits 1. */
  error?: string;
  /** Why the run stopped before its last stage (abortOnFail), e.g. "stage rate-2000: p99 < 100ms (measured 180)". */
  abort_reason?: string;
  interrupted?: boolean;
  /** The self-started service: where its log is, and how it stopped (a clean drain exits 0). */
  service?: { log: string; store: 'mysql' | 'memory'; exit_code: number | null; signal: string | null; killed: boolean };
  /** The run folder (summary.json, service.log). */
  run_dir?: string;
  /** The bench process's own memory over the run (every 5 s, at most 720 points), to show it stays flat. */
  bench_memory?: { every_s: number; samples: { t_s: number; rss_mb: number; heap_used_mb: number }[] };
}

const DEFAULT_EXECUTORS: Executors = { closed: runClosedStage, open: runOpenStage };

/** Thresholds that apply to a stage: its own, then the profile's. */
function thresholdsFor(profile: Profile, stage: StageSpec): Threshold[] {
  return [...stage.thresholds, ...profile.thresholds];
}

function judge(ts: Threshold[], subject: ThresholdSubject, stage: string | null): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  for (const t of ts) {
    const r = evaluate(t, subject);
    if (r === null) continue;
    const res: ThresholdResult = { expr: t.expr, stage, value: r.value === null ? null : roundValue(r.value), passed: r.passed };
    if (r.note !== undefined) res.note = r.note;
    out.push(res);
  }
  return out;
}

function roundValue(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

/** The highest rate an open stage asked for (its ramp's end if it ramps up). */
export function peakRate(s: StageSpec): number {
  return Math.max(s.rate ?? 0, s.rampTo ?? 0);
}

/** What the outputs are started with for one run of `profile` (its stages from `firstStageIndex`). */
export function runInfo(profile: Profile, target: string, runId: string, firstStageIndex = 0): RunInfo {
  return { runId, profile: profile.name, target, startedAt: Date.now(), stages: stageInfos(profile, firstStageIndex) };
}

export function stageInfos(profile: Profile, firstStageIndex = 0): StageInfo[] {
  return profile.stages.map((s, i) => ({ index: firstStageIndex + i, name: s.name, model: s.model, durationMs: s.durationMs }));
}

export async function runProfile(opts: RunOptions): Promise<RunSummary> {
  const { profile, outputs } = opts;
  const log = opts.log ?? (() => {});
  const warnings: string[] = [];
  const warn = (obj: Record<string, unknown>, msg: string) => {
    warnings.push(msg);
    log(obj, msg);
  };
  const stages = stageInfos(profile, opts.firstStageIndex);
  const startedAt = Date.now();
  const results: StageResult[] = [];
  const thresholdResults: ThresholdResult[] = [];
  let aborted = false;
  let interrupted = false;
  let error: string | undefined;
  let firstFailed: string | null = null;
  let abortReason: string | undefined;
  let highestHeld: number | null = null;

  const window = benchWindow(opts.runId);
  const scrapeWarned = new Set<string>();
  // A self-started service that exits is reported at once and ends the run (exit 1 with the reason).
  const stop = new AbortController();
  const stopSignal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let currentStage: { name: string; startedAt: number } | null = null;
  const exited: { exit: { stage: string; at_s: number; code: number | null; signal: string | null } | null } = { exit: null };
  let serviceGone: string | undefined;
  void opts.serviceExit?.then((how) => {
    if (stop.signal.aborted) return;
    const at = currentStage ? (Date.now() - currentStage.startedAt) / 1000 : 0;
    const stageName = currentStage?.name ?? null;
    if (stageName !== null) exited.exit = { stage: stageName, at_s: Math.round(at * 10) / 10, ...how };
    serviceGone = `the service the bench started exited (${how.signal ? `signal ${how.signal}` : `code ${how.code}`})` +
      (stageName !== null ? ` during stage ${stageName}, ${Math.round(at * 10) / 10} s in` : ' between stages') + '; see service.log';
    warn({ code: how.code, signal: how.signal, stage: stageName }, serviceGone);
    stop.abort(new Error(serviceGone));
  });

  const memory = new MemorySampler();
  let warmup: WarmupSummary | undefined;
  // open-model connections live from the warm-up to the last stage, as a user's clients would
  const carry = new ConnectionCarry();
  try {
    const executors = opts.executors ?? DEFAULT_EXECUTORS;
    const first = profile.stages[0];
    if (first && (opts.warmupMs ?? 0) > 0 && !processWarmedUp() && !opts.signal?.aborted) {
      const spec = warmupStage(first, opts.warmupMs!);
      const info: StageInfo = { index: -1, name: spec.name, model: spec.model, durationMs: spec.durationMs };
      // The warm-up is observed like a stage and settled after it: its last requests may still be in the
      // service's flushes when it ends, and would otherwise land in the first stage's counts and rows.
      const observer = new StageObserver({
        target: opts.target, window, scrape: opts.scrape ?? true, rows: opts.rows,
        settleMs: opts.settleMs ?? 5000, stage: spec.name, warn, warned: scrapeWarned,
      });
      try {
        await observer.beforeStage();
        const execute = spec.model === 'closed' ? executors.closed : executors.open;
        let result: StageResult | undefined;
        warmup = await runWarmup(spec, {
          target: opts.target, request: profile.request, runId: opts.runId, stage: info,
          signal: opts.signal ?? new AbortController().signal, onTick: () => {}, carry,
        }, async (s, c) => (result = await execute(s, c)));
        if (result) await observer.afterStage(result);
        outputs.add({ type: 'warmup', at: Date.now(), stage: info, warmup });
        log({ warmup }, `warm-up: ${warmup.sent} requests in ${warmup.duration_ms} ms, not part of any stage`);
      } catch (e) {
        warn({ err: (e as Error).message }, `warm-up failed, the first stage starts cold: ${(e as Error).message}`);
      }
    }
    for (const [index, spec] of profile.stages.entries()) {
      if (opts.signal?.aborted) {
        interrupted = aborted = true;
        break;
      }
      if (serviceGone !== undefined) break;
      const info = stages[index]!;

      const observer = new StageObserver({
        target: opts.target, window, scrape: opts.scrape ?? true, rows: opts.rows, mysql: opts.mysql,
        settleMs: opts.settleMs ?? 5000, stage: spec.name, warn, warned: scrapeWarned,
      });
      await observer.beforeStage();

      outputs.add({ type: 'stage-start', at: Date.now(), stage: info });
      const stageTs = thresholdsFor(profile, spec);
      const stageStartedAt = Date.now();
      observer.startDuring(stageStartedAt);
      currentStage = { name: spec.name, startedAt: stageStartedAt };
      const timeline = new StageTimeline();
      let stageRun: Awaited<ReturnType<typeof runStage>>;
      try {
        stageRun = await runStage(executors, spec, info, { ...opts, signal: stopSignal }, stageTs, carry, timeline);
      } finally {
        currentStage = null;
        await observer.stopDuring();
      }
      const { result, endedEarlyBy } = stageRun;
      if (endedEarlyBy) log({ stage: spec.name, threshold: endedEarlyBy }, `stage ${spec.name} ended early: ${endedEarlyBy}`);
      if (opts.signal?.aborted) interrupted = true;

      const observed = await observer.afterStage(result);
      if (observed.server) result.server = observed.server;
      result.server_timeline = observed.server_timeline;
      if (observed.server_time) result.server_time = observed.server_time;
      if (observed.peaks) result.peaks = observed.peaks;
      result.timeline = timeline.entries;
      const gone = outage(timeline.entries, result.worst?.failed);
      if (gone && result.counts.errors > 0) result.outage = gone;
      // the executor's own watch of the generator (metrics/generator-watch.ts), else the schedule lag seen here
      const generator: GeneratorEvidence = result.generator ?? generatorEvidence(timeline);
      if (opts.kibana && result.worst) {
        for (const r of [...result.worst.slowest, ...result.worst.failed]) {
          if (r.sampled) (r as typeof r & { trace_url?: string }).trace_url = kibanaTraceUrl(opts.kibana, r.trace_id);
        }
      }

      if (result.generator?.saturated) {
        warn({ stage: spec.name, because: result.generator.saturated_because },
          `stage ${spec.name}: the load generator was saturated (${result.generator.saturated_because.join('; ')}); ` +
          'its latency and rate figures include the bench\'s own delay');
      }
      const judged = judge(stageTs, subjectFromStage(result), spec.name);
      thresholdResults.push(...judged);
      const exit = exited.exit !== null && exited.exit.stage === spec.name ? exited.exit : undefined;
      result.diagnosis = diagnose(stageEvidence(spec, result, judged, observed, exit, { timeline: timeline.entries, generator }));
      results.push(result);
      outputs.add({ type: 'stage-end', at: Date.now(), stage: info, result, thresholds: judged });

      const stageHeld = judged.every((t) => t.passed);
      if (!stageHeld && firstFailed === null) firstFailed = spec.name;
      // A stage without thresholds (a warm-up) has nothing to hold, so it never counts as the breakpoint.
      if (stageHeld && judged.length > 0 && firstFailed === null && spec.model === 'open' && !interrupted) {
        highestHeld = Math.max(highestHeld ?? 0, peakRate(spec));
      }
      if (interrupted || serviceGone !== undefined) {
        aborted = true;
        break;
      }
      if (!stageHeld && profile.abortOnFail) {
        const why = judged.filter((t) => !t.passed).map((t) => `${t.expr} (${t.note ?? `measured ${t.value}`})`).join(', ');
        abortReason = `stage ${spec.name}: ${endedEarlyBy ? `ended early on ${endedEarlyBy}; ` : ''}failed ${why}`;
        log({ stage: spec.name, reason: abortReason }, 'abortOnFail stops the run');
        aborted = true;
        break;
      }
    }
  } catch (e) {
    error = (e as Error).message;
    log({ err: error }, 'run failed');
  }
  if (serviceGone !== undefined) error ??= serviceGone;
  carry.close();
  stop.abort();

  // The commonest way to benchmark nothing: the target rejects the profile's properties (the pageview service
  // accepts only ALLOWED_PROPERTIES), so every request is a cheap invalid_argument.
  const rejected = results.reduce((a, r) => a + (r.by_twirp_code.invalid_argument ?? 0), 0);
  const answered = results.reduce((a, r) => a + r.counts.completed, 0);
  const sentTotal = results.reduce((a, r) => a + r.counts.sent, 0);
  if (sentTotal > 0 && answered === 0) {
    const codes = [...new Set(results.flatMap((r) => Object.keys(r.by_error_code)))].join(', ');
    warn({ sent: sentTotal }, `the target answered none of ${sentTotal} requests${codes ? ` (socket errors: ${codes})` : ''}: is ${opts.target} up?`);
  }
  if (answered > 0 && rejected / answered > Math.max(0.5, profile.request.invalidShare + 0.25)) {
    warn(
      { rejected, answered },
      `${rejected} of ${answered} answers were invalid_argument, far above the profile's invalidShare ` +
        `(${profile.request.invalidShare}): does the target accept the profile's properties? (the pageview service ` +
        `accepts only ALLOWED_PROPERTIES; or use --set 'request.properties=[news]')`,
    );
  }

  if (results.length > 0 && profile.thresholds.length > 0) {
    thresholdResults.push(...judge(profile.thresholds, aggregateStages(results), null));
  }
  const summary: RunSummary = {
    schema_version: SCHEMA_VERSION,
    run_id: opts.runId,
    profile: profile.name,
    target: opts.target,
    git_commit: gitCommit(),
    started_at: new Date(startedAt).toISOString(),
    ended_at: new Date().toISOString(),
    passed: error === undefined && !interrupted && thresholdResults.every((t) => t.passed),
    aborted,
    thresholds: thresholdResults,
    stages: results,
    warnings,
  };
  if (warmup) summary.warmup = warmup;
  summary.bench_memory = memory.stop();
  if (profile.breakpoint) {
    const completed = results.length === profile.stages.length && !interrupted && error === undefined;
    summary.breakpoint = breakpointVerdict(profile.stages, results, thresholdResults, highestHeld, firstFailed, profile.ceiling, completed, profile.thresholds.length > 0);
  }
  if (interrupted) summary.interrupted = true;
  if (abortReason !== undefined) summary.abort_reason = abortReason;
  if (error !== undefined) summary.error = error;
  return summary;
}

async function runStage(
  executors: Executors, spec: StageSpec, info: StageInfo, opts: RunOptions, thresholds: Threshold[],
  carry: ConnectionCarry, timeline?: StageTimeline,
): Promise<{ result: StageResult; endedEarlyBy?: string }> {
  const ac = new AbortController();
  const onRunAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onRunAbort, { once: true });
  // The executor ends the stage on time itself; this only guards against one that does not (bounded stage).
  const watchdog = setTimeout(() => ac.abort(), spec.durationMs + opts.profile.request.timeoutMs + 10_000);
  let endedEarlyBy: string | undefined;
  const ctx: StageContext = {
    target: opts.target,
    request: opts.profile.request,
    runId: opts.runId,
    stage: info,
    signal: ac.signal,
    carry,
    onInterval: (interval) => {
      timeline?.add(interval);
      opts.outputs.add({ type: 'interval', at: Date.now(), stage: info, interval });
    },
    onTick: (snapshot) => {
      opts.outputs.add({ type: 'tick', at: Date.now(), stage: info, snapshot });
      if (!opts.profile.abortOnFail || endedEarlyBy !== undefined) return;
      const subject = subjectFromSnapshot(snapshot);
      for (const t of thresholds) {
        const v = failedEarly(t, subject, snapshot.elapsedMs / spec.durationMs);
        if (v !== null) {
          endedEarlyBy = `${t.expr} (measured ${roundValue(v)} after ${Math.round(snapshot.elapsedMs)}ms)`;
          ac.abort();
          return;
        }
      }
    },
  };
  try {
    const result = await (spec.model === 'closed' ? executors.closed : executors.open)(spec, ctx);
    return { result, endedEarlyBy };
  } finally {
    clearTimeout(watchdog);
    opts.signal?.removeEventListener('abort', onRunAbort);
  }
}

/** The schedule lag the intervals carried, when the executor did not watch the generator itself. */
function generatorEvidence(timeline: StageTimeline): GeneratorEvidence {
  const lag = timeline.scheduleLagMs();
  return { schedule_lag_ms: lag, event_loop_delay_ms: null, saturated: lag !== null && lag.p99 >= LAG_P99_MS };
}
