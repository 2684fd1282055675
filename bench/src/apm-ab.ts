// --apm-ab: the same profile against two fresh services, APM off then on (same seed, same stages), composed of
// two runProfile runs that share one set of outputs: their stages are "apm-off/<stage>" and "apm-on/<stage>",
// their run-level thresholds are labelled "apm-off" and "apm-on", and summary.apm_ab has the on/off ratios.
import { join } from 'node:path';
import { SCHEMA_VERSION, type Profile, type ThresholdResult } from './types';
import { gitCommit } from './git-commit';
import type { OutputSet } from './outputs/index';
import { runProfile, stageInfos, type RunSummary } from './run';
import { startService, stopService, type ServiceProcess } from './target/service-process';
import { startApmSink } from './target/apm-sink';
import type { MysqlStatus } from './target/mysql-status';
import type { RowCounter } from './target/mysql-rows';

export interface ApmAbOptions {
  profile: Profile;
  runId: string;
  /** The run folder: service-apm-off.log, service-apm-on.log. */
  dir: string;
  outputs: OutputSet;
  rows?: RowCounter;
  mysql?: MysqlStatus;
  mysqlUrl?: string;
  /** Environment for both services (the variant's APM settings are added). */
  serviceEnv: Record<string, string>;
  /** Unset: a built-in intake sink that accepts and discards. */
  apmServerUrl?: string;
  /** Services still running, for the caller to stop if this throws. */
  services: ServiceProcess[];
  /** Registers what the caller must close at the very end (the intake sink). */
  onCleanup: (close: () => Promise<void>) => void;
  scrape: boolean;
  /** warm-up before the first leg's first stage (warmup.ts); the process is warm for the second */
  warmupMs?: number;
  signal?: AbortSignal;
  log: (obj: Record<string, unknown>, msg: string) => void;
  /** --kibana: recorded in the summary for the report's trace links */
  kibanaUrl?: string;
}

const VARIANTS = ['off', 'on'] as const;

export async function runApmAb(x: ApmAbOptions): Promise<RunSummary> {
  let apmUrl = x.apmServerUrl;
  let sinkStats: (() => string) | undefined;
  if (!apmUrl) {
    const sink = await startApmSink();
    x.onCleanup(() => sink.close());
    apmUrl = sink.url;
    sinkStats = () => `built-in sink (${sink.stats.intakeRequests} intake requests, ${sink.stats.bytes} bytes)`;
  }
  const env = {
    off: { ELASTIC_APM_ACTIVE: 'false', ELASTIC_APM_SERVER_URL: '' },
    on: { ELASTIC_APM_ACTIVE: 'true', ELASTIC_APM_SERVER_URL: apmUrl },
  };
  const legs = VARIANTS.map((key, i) => ({
    key,
    profile: { ...x.profile, stages: x.profile.stages.map((s) => ({ ...s, name: `apm-${key}/${s.name}` })) },
    firstStageIndex: i * x.profile.stages.length,
  }));
  const startedAt = Date.now();
  await x.outputs.start({
    runId: x.runId, profile: x.profile.name, target: 'self-started (apm off, apm on)', startedAt,
    stages: legs.flatMap((l) => stageInfos(l.profile, l.firstStageIndex)),
  });

  const parts: { key: string; summary: RunSummary }[] = [];
  for (const leg of legs) {
    if (x.signal?.aborted) break;
    const svc = await startService({
      logFile: join(x.dir, `service-apm-${leg.key}.log`), env: { ...env[leg.key], ...x.serviceEnv }, mysqlUrl: x.mysqlUrl,
    });
    x.services.push(svc);
    x.log({ target: svc.url, apm: leg.key }, 'service started');
    const summary = await runProfile({
      profile: leg.profile, firstStageIndex: leg.firstStageIndex, target: svc.url, runId: x.runId, outputs: x.outputs,
      rows: x.rows, mysql: x.mysql, signal: x.signal, scrape: x.scrape, log: x.log, warmupMs: x.warmupMs, serviceExit: svc.exited,
      kibana: x.kibanaUrl,
    });
    x.services.splice(x.services.indexOf(svc), 1);
    const stopped = await stopService(svc, x.mysqlUrl);
    if (stopped.warning) summary.warnings.push(stopped.warning);
    parts.push({ key: leg.key, summary });
    if (summary.error !== undefined || summary.interrupted) break;
  }

  const byKey = (k: string) => parts.find((p) => p.key === k)?.summary;
  const label = (t: ThresholdResult, key: string): ThresholdResult => (t.stage === null ? { ...t, stage: `apm-${key}` } : t);
  const summary: RunSummary = {
    schema_version: SCHEMA_VERSION,
    run_id: x.runId,
    profile: x.profile.name,
    target: parts.map((p) => p.summary.target).join(' , '),
    git_commit: gitCommit(),
    started_at: new Date(startedAt).toISOString(),
    ended_at: new Date().toISOString(),
    passed: parts.length === legs.length && parts.every((p) => p.summary.passed),
    aborted: parts.length < legs.length || parts.some((p) => p.summary.aborted),
    thresholds: parts.flatMap((p) => p.summary.thresholds.map((t) => label(t, p.key))),
    stages: parts.flatMap((p) => p.summary.stages),
    warnings: parts.flatMap((p) => p.summary.warnings),
    apm_ab: apmAbRatios(byKey('off'), byKey('on'), sinkStats?.() ?? apmUrl),
    run_dir: x.dir,
  };
  const err = parts.find((p) => p.summary.error !== undefined)?.summary.error;
  if (err !== undefined) summary.error = err;
  if (parts.some((p) => p.summary.interrupted)) summary.interrupted = true;
  if (x.kibanaUrl) summary.kibana_url = x.kibanaUrl;
  await x.outputs.stop(summary);
  return summary;
}

export function apmAbRatios(off: RunSummary | undefined, on: RunSummary | undefined, apmServer: string): Record<string, unknown> {
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 1000) / 1000 : null);
  const stages = (off?.stages ?? []).map((o) => {
    const base = o.name.replace(/^apm-off\//, '');
    const n = on?.stages.find((s) => s.name === `apm-on/${base}`);
    return {
      name: base,
      achieved_rate_off: o.rate.achieved,
      achieved_rate_on: n?.rate.achieved ?? null,
      achieved_rate_ratio: ratio(n?.rate.achieved, o.rate.achieved),
      p99_ms_off: o.latency_ms.p99,
      p99_ms_on: n?.latency_ms.p99 ?? null,
      p99_ratio: ratio(n?.latency_ms.p99, o.latency_ms.p99),
    };
  });
  const sumRate = (s: RunSummary | undefined) => s?.stages.reduce((a, r) => a + r.counts.completed, 0);
  const sumTime = (s: RunSummary | undefined) => s?.stages.reduce((a, r) => a + r.duration_ms, 0);
  const overallOff = off ? (sumRate(off)! / Math.max(1, sumTime(off)!)) * 1000 : undefined;
  const overallOn = on ? (sumRate(on)! / Math.max(1, sumTime(on)!)) * 1000 : undefined;
  const worstP99 = (s: RunSummary | undefined) => (s && s.stages.length ? Math.max(...s.stages.map((r) => r.latency_ms.p99)) : undefined);
  return {
    apm_server: apmServer,
    ratio_is: 'apm on / apm off (achieved rate < 1 and p99 > 1 are the observability tax)',
    stages,
    overall: {
      achieved_rate_off: overallOff ?? null,
      achieved_rate_on: overallOn ?? null,
      achieved_rate_ratio: ratio(overallOn, overallOff),
      p99_ratio: ratio(worstP99(on), worstP99(off)),
    },
  };
}
