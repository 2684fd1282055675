// A run on N workers, seen from the coordinator: listen, start local workers (`--workers N`) or wait for remote
// ones (`--coordinator`), get every worker ready, then the ordinary run (run.ts) with the coordinator as its
// stage executor, so everything the run does once (thresholds, abortOnFail, scrapes, row counts, outputs) is done
// once. The summary gains `workers[]`; late intervals are folded into the stages' totals; a worker that was lost,
// fell behind or never got ready fails the run (summary.error, exit 1) unless `allowWorkerLoss`.
import type { StageResult } from '../types';
import { runProfile, type RunOptions, type RunSummary } from '../run';
import { Coordinator, CoordinatorError, type WorkerReport } from './coordinator';
import { LocalWorkers } from './local-workers';

export interface DistributedRunOptions extends Omit<RunOptions, 'executors'> {
  workers: number;
  /** where the coordinator listens; local workers dial 127.0.0.1 */
  listen: { host: string; port: number };
  /** start the workers as local processes (`--workers N`); otherwise wait for them to dial in */
  local: boolean;
  /** the run folder (local workers' logs) */
  dir: string;
  connectTimeoutMs: number;
  allowWorkerLoss: boolean;
  /** each worker's warm-up before it reports ready (default DEFAULT_WARMUP_MS; 0 = none) */
  warmupMs?: number;
  /** told the coordinator's URL once it listens (the CLI logs it for remote workers) */
  onListening?: (url: string) => void;
}

export interface DistributedSummary extends RunSummary {
  workers: (WorkerReport & { exit_code?: number | null; exit_signal?: string | null; log?: string })[];
}

export async function runDistributed(o: DistributedRunOptions): Promise<DistributedSummary> {
  const log = o.log ?? (() => {});
  const coordinator = await Coordinator.listen({
    host: o.listen.host, port: o.listen.port, workers: o.workers, connectTimeoutMs: o.connectTimeoutMs,
    allowWorkerLoss: o.allowWorkerLoss, log, warmupMs: o.warmupMs,
  });
  const url = coordinator.url.replace('//0.0.0.0:', '//127.0.0.1:').replace('//[::]:', '//127.0.0.1:');
  o.onListening?.(coordinator.url);
  const local = o.local ? new LocalWorkers({ count: o.workers, url, dir: o.dir, connectTimeoutMs: o.connectTimeoutMs }) : null;
  const userSignal = o.signal ?? new AbortController().signal;
  let summary: RunSummary;
  let notReady: string | null = null;
  try {
    try {
      await coordinator.prepare(o.profile, o.target, o.runId, userSignal);
    } catch (e) {
      if (!(e instanceof CoordinatorError)) throw e;
      notReady = e.message;
    }
    // Not ready: the run still goes through run.ts (so its caller finishes and writes a summary) and ends at its
    // first stage with the reason as its error.
    const executor = notReady !== null
      ? async (): Promise<StageResult> => { throw new CoordinatorError('BENCH_WORKERS_NOT_READY', notReady!); }
      : coordinator.executor;
    summary = await runProfile({
      ...o,
      executors: { closed: executor, open: executor },
      // the workers warmed up before they reported ready; the coordinator itself sends nothing
      warmupMs: 0,
      signal: AbortSignal.any([userSignal, coordinator.signal]),
      // nothing was sent when the workers were not ready: no scrape to wait for
      ...(notReady !== null ? { scrape: false, rows: undefined } : {}),
    });
    foldLateIntervals(coordinator, summary);
  } finally {
    await coordinator.close(notReady ?? undefined);
    await local?.stop();
  }

  const workers: DistributedSummary['workers'] = coordinator.report();
  if (local) {
    for (const w of workers) {
      const lw = local.workers[w.index];
      if (!lw) continue;
      Object.assign(w, { exit_code: lw.exit?.code ?? null, exit_signal: lw.exit?.signal ?? null, log: lw.log });
    }
  }
  const out = summary as DistributedSummary;
  out.workers = workers;
  const troubled = workers.filter((w) => w.status !== 'ok');
  for (const w of troubled) {
    for (const p of w.problems) {
      out.warnings.push(`worker ${w.index}${w.host ? ` (${w.host})` : ''} ${p.kind} at ${p.at}${p.stage ? ` in stage ${p.stage}` : ''}: ${p.reason}; it had sent ${p.sent} requests in ${p.intervals} intervals`);
    }
  }
  if (coordinator.failure !== null && !o.allowWorkerLoss) {
    out.error ??= coordinator.failure;
    out.passed = false;
    // the run stopped because of a worker, not because someone pressed Ctrl-C
    if (!userSignal.aborted) delete out.interrupted;
  }
  if (out.error === undefined && troubled.length > 0 && !o.allowWorkerLoss) {
    out.error = `${troubled.length} worker(s) did not run cleanly: ${troubled.map((w) => `${w.index} ${w.status}`).join(', ')}`;
    out.passed = false;
  }
  return out;
}

/**
 * Intervals that came after their stage's result was built (a worker that lagged) still count: the stage's
 * totals are rebuilt from everything received. Thresholds were judged before, on what had arrived; say so.
 */
function foldLateIntervals(c: Coordinator, summary: RunSummary): void {
  if (c.lateIntervals.length === 0) return;
  const rebuilt = c.finalStageResults();
  const stages = new Set(c.lateIntervals.map((l) => l.stage));
  for (const i of stages) {
    const s = summary.stages[i];
    const r = rebuilt[i];
    if (!s || !r) continue;
    const { counts, rate, latency_ms, service_time_ms, by_status, by_twirp_code, by_error_code, bytes, latency_hdr, service_time_hdr } = r;
    Object.assign(s, { counts, rate, latency_ms, by_status, by_twirp_code, by_error_code, bytes, latency_hdr });
    if (service_time_ms) s.service_time_ms = service_time_ms;
    if (service_time_hdr) s.service_time_hdr = service_time_hdr;
    const n = c.lateIntervals.filter((l) => l.stage === i).length;
    summary.warnings.push(`${n} interval(s) of stage ${s.name} arrived after the stage was judged; they are in its totals, not in its thresholds`);
  }
}
