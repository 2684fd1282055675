// `npm run bench -- [run] --profile NAME [--target URL] ...`, the default command: flags -> options -> profile ->
// target (a URL, or the service started here) -> runProfile -> the summary, finished and written once -> exit code.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Output, Profile } from '../types';
import { EXIT, commandLogger, usageError, type Command, type Io } from '../command';
import { flagHelp, parseFlags, type FlagSpecs } from '../flags';
import { loadProfile, looksLikePath, ProfileError, ProfileLoadError, shippedProfileNames, type ProfileOverrides } from '../profiles/index';
import { parseDuration } from '../profiles/duration';
import { DEFAULT_WARMUP_MS, MAX_WARMUP_MS } from '../warmup';
import { CeilingError, withCeiling } from '../profiles/ceiling';
import { MAX_CONNECTIONS, MAX_IN_FLIGHT, MAX_RATE, MAX_UINT32 } from '../profiles/limits';
import { describeThresholdGrammar } from '../metrics/thresholds';
import { OutputSet } from '../outputs/index';
import { consoleOutput } from '../outputs/console';
import { jsonOutput } from '../outputs/json';
import { prometheusRemoteWriteOutput } from '../outputs/prometheus-remote-write';
import { grafanaAnnotationsOutput } from '../outputs/grafana-annotations';
import { runInfo, runProfile, type RunSummary } from '../run';
import { runApmAb, type ApmAbOptions } from '../apm-ab';
import { startService, stopService, type ServiceProcess } from '../target/service-process';
import { serviceEnvFor } from '../target/service-env';
import { RowCounter } from '../target/mysql-rows';
import { parseDistributedArgs, runWorkerRole, workerIdentity, type DistributedArgs } from '../distributed/role-args';
import { runDistributed } from '../distributed/distributed-run';
import { frameSummary } from '../distributed/summary-log';
import { MysqlStatus } from '../target/mysql-status';

/** The run command's options, from its flags. */
export interface RunArgs {
  profile: string;
  target?: string;
  overrides: ProfileOverrides;
  out?: string;
  json: boolean;
  quiet: boolean;
  apmAb: boolean;
  prometheusRw?: string;
  grafana?: string;
  kibana?: string;
  /** --ceiling: the rate a breakpoint profile climbs to (profiles/ceiling.ts). */
  ceiling?: number;
  serviceEnv: Record<string, string>;
  scrape: boolean;
  listProfiles: boolean;
  /** --workers, --coordinator, --worker and their options (distributed/role-args.ts) */
  distributed: DistributedArgs;
  /** warm-up before the first stage (warmup.ts); 0 = none */
  warmupMs: number;
}

export const RUN_FLAGS = {
  profile: { type: 'string', arg: 'NAME|PATH', help: 'profile name in bench/profiles/ or a path to a YAML/JSON profile (default: smoke)' },
  target: { type: 'string', arg: 'URL', help: 'base URL of a running service; without it the bench starts the service itself' },
  duration: { type: 'string', arg: 'D', help: 'every stage lasts D ("500ms", "30s", "2m", "1h")' },
  connections: { type: 'string', arg: 'N', help: 'every stage becomes closed-model with N connections (ramps removed)' },
  rate: { type: 'string', arg: 'R', help: 'every stage becomes open-model at R req/s (ramps removed, maxInFlight kept)' },
  'max-in-flight': { type: 'string', arg: 'N', help: 'maxInFlight of every open-model stage' },
  'max-connections': { type: 'string', arg: 'N', help: 'maxConnections of every open-model stage' },
  ceiling: { type: 'string', arg: 'R', help: 'breakpoint profiles: the rate to climb to (steps above it dropped, steps x1.5 added up to it)' },
  timeout: { type: 'string', arg: 'D', help: 'per-request timeout (request.timeout, default 10s)' },
  seed: { type: 'string', arg: 'N', help: 'seed for request bodies (request.seed)' },
  'invalid-share': { type: 'string', arg: 'X', help: 'share 0..1 of deliberately invalid requests (request.invalidShare)' },
  'content-type': { type: 'string', arg: 'json|protobuf', help: 'request encoding (request.contentType)' },
  set: { type: 'string', multiple: true, arg: 'PATH=VALUE', help: 'set any profile field, e.g. --set stages[1].rampTo=800' },
  out: { type: 'string', arg: 'DIR', help: 'run folder (default: bench-results/<timestamp>-<profile>/)' },
  json: { type: 'boolean', help: 'print summary.json to stdout (the table goes to stderr)' },
  quiet: { type: 'boolean', help: 'no live progress line' },
  'apm-ab': { type: 'boolean', help: 'run the profile twice on self-started services, Elastic APM off then on, and report the ratios' },
  'prometheus-rw': { type: 'string', arg: 'URL', help: 'also push live metrics by Prometheus remote write to URL' },
  grafana: { type: 'string', arg: 'URL', help: 'also write stage annotations to Grafana at URL (token from GRAFANA_TOKEN)' },
  kibana: { type: 'string', arg: 'URL', help: 'Kibana base URL: the report links the worst requests\' trace ids to its APM trace view (summary.kibana_url)' },
  'service-env': { type: 'string', multiple: true, arg: 'KEY=VALUE', help: 'environment for the self-started service' },
  'no-scrape': { type: 'boolean', help: 'do not read the target\'s /metrics (for targets without one)' },
  workers: { type: 'string', arg: 'N', help: 'run the profile on N worker processes on this machine, merged into one summary; with --coordinator, wait for N workers on other hosts' },
  coordinator: { type: 'boolean', help: 'coordinate N workers on other hosts (each runs --worker URL); needs --workers and --target' },
  listen: { type: 'string', arg: 'HOST:PORT', help: 'where the coordinator listens (default 0.0.0.0:7070 with --coordinator; 127.0.0.1, a free port, with --workers alone)' },
  worker: { type: 'string', arg: 'URL', help: 'be a worker of the coordinator at ws://HOST:PORT: the profile and the target come from it' },
  'connect-timeout': { type: 'string', arg: 'D', help: 'how long the coordinator waits for every worker to be ready, and a worker for its coordinator (default 60s)' },
  'allow-worker-loss': { type: 'boolean', help: 'a worker that is lost, falls behind or never gets ready is reported, but does not fail the run' },
  'summary-to-log': { type: 'boolean', help: 'also print summary.json, framed, on stdout (how `k8s run` copies it out of a finished pod)' },
  'list-profiles': { type: 'boolean', help: 'list the shipped profiles and exit' },
  warmup: { type: 'string', arg: 'D', help: 'warm the bench up for D before the first stage, reported apart (default 3s; 0 = none)' },
} as const satisfies FlagSpecs;

/** Parses the run command's argv; every problem is collected, none stops the parse. */
export function parseRunArgs(argv: string[]): { args: RunArgs; errors: string[] } {
  const { values: v, errors } = parseFlags(argv, RUN_FLAGS);
  const int = (flag: keyof typeof RUN_FLAGS, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(n) || n < min || n > max) {
      errors.push(`--${flag} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return undefined;
    }
    return n;
  };
  const dur = (flag: keyof typeof RUN_FLAGS, raw: string | undefined): string | undefined => {
    if (raw === undefined) return undefined;
    const d = parseDuration(raw);
    if ('error' in d) errors.push(`--${flag} ${d.error}`);
    else if (d.ms <= 0) errors.push(`--${flag} must be > 0 (got "${raw}")`);
    else return raw;
    return undefined;
  };
  const url = (flag: keyof typeof RUN_FLAGS, raw: string | undefined): string | undefined => {
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
      return raw.replace(/\/+$/, '');
    } catch {
      errors.push(`--${flag} must be an http(s) URL (got "${raw}")`);
      return undefined;
    }
  };

  const overrides: ProfileOverrides = {
    duration: dur('duration', v.duration),
    timeout: dur('timeout', v.timeout),
    connections: int('connections', v.connections, 1, MAX_CONNECTIONS),
    maxInFlight: int('max-in-flight', v['max-in-flight'], 1, MAX_IN_FLIGHT),
    maxConnections: int('max-connections', v['max-connections'], 1, MAX_CONNECTIONS),
    seed: int('seed', v.seed, 0, MAX_UINT32),
  };
  if (v.rate !== undefined) {
    const n = Number(v.rate);
    if (v.rate.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_RATE) errors.push(`--rate must be a number > 0 and <= ${MAX_RATE} (got "${v.rate}")`);
    else overrides.rate = n;
  }
  if (v['invalid-share'] !== undefined) {
    const raw = v['invalid-share'];
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) errors.push(`--invalid-share must be a number from 0 to 1 (got "${raw}")`);
    else overrides.invalidShare = n;
  }
  if (v['content-type'] !== undefined) {
    if (v['content-type'] !== 'json' && v['content-type'] !== 'protobuf') errors.push(`--content-type must be json or protobuf (got "${v['content-type']}")`);
    else overrides.contentType = v['content-type'];
  }
  let ceiling: number | undefined;
  if (v.ceiling !== undefined) {
    const n = Number(v.ceiling);
    if (v.ceiling.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_RATE) errors.push(`--ceiling must be a rate > 0 and <= ${MAX_RATE} (got "${v.ceiling}")`);
    else ceiling = n;
  }
  if (overrides.connections !== undefined && overrides.rate !== undefined) {
    errors.push('--connections (closed model) and --rate (open model) cannot both be given');
  }
  if (v.set?.length) overrides.set = v.set;
  for (const k of Object.keys(overrides) as (keyof ProfileOverrides)[]) if (overrides[k] === undefined) delete overrides[k];

  const target = url('target', v.target);
  const serviceEnv: Record<string, string> = {};
  for (const kv of v['service-env'] ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(kv);
    if (!m) errors.push(`--service-env must be KEY=VALUE (got "${kv}")`);
    else serviceEnv[m[1]!] = m[2]!;
  }
  if (target !== undefined && v['apm-ab']) errors.push('--apm-ab starts its own two services: it cannot be used with --target');
  if (target !== undefined && Object.keys(serviceEnv).length > 0) errors.push('--service-env applies to the self-started service: it cannot be used with --target');
  const profile = v.profile ?? 'smoke';
  if (profile.trim() === '') errors.push('--profile must not be empty');
  const raw = v as Record<string, string | true | string[] | undefined>;
  const distributed = parseDistributedArgs({
    str: (n) => (typeof raw[n] === 'string' ? raw[n] as string : undefined),
    bool: (n) => raw[n] === true,
    has: (n) => raw[n] !== undefined,
  }, target, errors);
  let warmupMs = DEFAULT_WARMUP_MS;
  if (v.warmup !== undefined) {
    const d = v.warmup.trim() === '0' ? { ms: 0 } : parseDuration(v.warmup);
    if ('error' in d) errors.push(`--warmup ${d.error}`);
    else if (d.ms < 0 || d.ms > MAX_WARMUP_MS) errors.push(`--warmup must be from 0 to ${MAX_WARMUP_MS / 1000}s (got "${v.warmup}")`);
    else warmupMs = d.ms;
  }

  return {
    args: {
      profile,
      target,
      overrides,
      out: v.out,
      json: v.json === true,
      quiet: v.quiet === true,
      apmAb: v['apm-ab'] === true,
      prometheusRw: url('prometheus-rw', v['prometheus-rw']),
      grafana: url('grafana', v.grafana),
      kibana: url('kibana', v.kibana),
      ceiling,
      serviceEnv,
      scrape: v['no-scrape'] !== true,
      listProfiles: v['list-profiles'] === true,
      distributed,
      warmupMs,
    },
    errors,
  };
}

function helpText(): string {
  const g = describeThresholdGrammar();
  return [
    'Usage: npm run bench -- [run] [--profile NAME|PATH] [--target URL] [options]',
    '',
    'Runs a staged load profile against the pageview service (or any Twirp Push endpoint), checks thresholds,',
    'and puts the client\'s counts next to the server\'s /metrics (and MySQL rows with MYSQL_URL).',
    '',
    'Options:',
    ...flagHelp(RUN_FLAGS),
    '',
    'Overrides apply to every stage, before validation; a profile they make invalid is reported like a bad file.',
    '',
    'Environment:',
    '  MYSQL_URL               the self-started service uses MySQL (unset: its in-memory store); rows in `incoming`',
    '                          are counted before and after each stage and compared with pushes acknowledged',
    '  ELASTIC_APM_SERVER_URL  APM server for --apm-ab (unset: a built-in intake sink that discards)',
    '  GRAFANA_TOKEN           bearer token for --grafana',
    '',
    'Thresholds (in profiles: "thresholds" for every stage and the run, stages[].thresholds for one stage):',
    ...g.metrics.split('; ').map((m) => `  ${m}`),
    `  e.g. ${g.examples.map((e) => JSON.stringify(e)).join(', ')}`,
    '  With abortOnFail the run stops after the first stage that fails one; a count past its bound ends the stage',
    '  at once, rates and percentiles are judged from half-way through the stage.',
    '',
    'Exit codes: 0 all thresholds held, 99 a threshold failed, 2 bad usage (nothing run), 1 anything else.',
    `Shipped profiles: ${shippedProfileNames().join(', ')}`,
  ].join('\n') + '\n';
}

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export const command: Command = {
  name: 'run',
  summary: 'run a profile against the service or --target URL (the default command)',
  help: helpText,
  async run(argv, io, signal) {
    const { args, errors } = parseRunArgs(argv);
    if (args.distributed.worker !== undefined) {
      if (errors.length > 0) return usageError(io, 'run', errors);
      const logger = commandLogger(io, args.quiet ? 'warn' : 'info');
      return runWorkerRole({
        url: args.distributed.worker, ...workerIdentity(io.env), target: args.target, connectTimeoutMs: args.distributed.connectTimeoutMs,
        signal, log: (obj, msg) => logger.info(obj, msg),
      }, (obj, msg) => logger.error(obj, msg));
    }
    if (args.listProfiles && errors.length === 0) {
      io.stdout(shippedProfileNames().join('\n') + '\n');
      return EXIT.ok;
    }
    let profile: Profile | undefined;
    try {
      profile = loadProfile(looksLikePath(args.profile) ? resolve(io.cwd, args.profile) : args.profile, args.overrides).profile;
      if (args.ceiling !== undefined) profile = withCeiling(profile, args.ceiling);
    } catch (e) {
      if (e instanceof ProfileError) errors.push(...e.problems.map((p) => `profile ${e.source}: ${p}`));
      else if (e instanceof ProfileLoadError || e instanceof CeilingError) errors.push(e.message);
      else throw e;
    }
    if (errors.length > 0 || !profile) return usageError(io, 'run', errors);
    return runBench(args, profile, io, signal);
  },
};

async function runBench(args: RunArgs, profile: Profile, io: Io, signal?: AbortSignal): Promise<number> {
  const started = new Date();
  const runId = `${timestamp(started)}-${profile.name}-${randomBytes(3).toString('hex')}`;
  const dir = args.out !== undefined ? resolve(io.cwd, args.out) : resolve(join('bench-results', `${timestamp(started)}-${profile.name}`));
  mkdirSync(dir, { recursive: true });
  const logger = commandLogger(io, args.quiet ? 'warn' : 'info');
  const log = (obj: Record<string, unknown>, msg: string) => logger.info(obj, msg);
  const warnLog = (obj: Record<string, unknown>, msg: string) => logger.warn(obj, msg);

  const outputs: Output[] = [
    consoleOutput({
      write: args.json ? io.stderr : io.stdout,
      progress: io.stderrIsTTY && !args.quiet ? io.stderr : undefined,
      profile,
      columns: io.columns,
      kibana: args.kibana,
    }),
    jsonOutput({ dir, print: args.json ? io.stdout : undefined }),
  ];
  // The output labels every series with the run, profile and stage itself.
  // Their log lines go through the command's logger, like every other line the bench writes on stderr.
  if (args.prometheusRw) outputs.push(prometheusRemoteWriteOutput({ url: args.prometheusRw, logger }));
  if (args.grafana) outputs.push(grafanaAnnotationsOutput({ url: args.grafana, token: io.env.GRAFANA_TOKEN || undefined, logger }));
  const outputSet = new OutputSet(outputs, { onWarning: (w) => warnLog(w, `output ${w.output} failed in ${w.phase}`) });

  const mysqlUrl = io.env.MYSQL_URL || undefined;
  let rows: RowCounter | undefined;
  const services: ServiceProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    if (mysqlUrl) {
      try {
        rows = await RowCounter.connect(mysqlUrl);
      } catch (e) {
        warnLog({ err: (e as Error).message }, 'MYSQL_URL is set but the bench cannot count rows; continuing without');
      }
    }
    log({ dir, runId, profile: profile.name }, 'bench run starting');
    const mysql = rows && new MysqlStatus(rows.pool);
    const common = { profile, runId, dir, outputs: outputSet, rows, mysql, mysqlUrl, signal, scrape: args.scrape, log, kibanaUrl: args.kibana, warmupMs: args.warmupMs };
    const summary = args.apmAb
      ? await runApmAb({
        ...common, services, apmServerUrl: io.env.ELASTIC_APM_SERVER_URL || undefined,
        serviceEnv: serviceEnvFor(profile.request.properties, args.serviceEnv, warnLog), onCleanup: (f) => cleanups.push(f),
      })
      : await runOnce({ ...common, target: args.target, services, serviceEnv: args.serviceEnv, warnLog, distributed: args.distributed });
    if (args.distributed.summaryToLog) {
      const file = join(dir, 'summary.json');
      io.stdout(frameSummary(existsSync(file) ? readFileSync(file, 'utf8') : JSON.stringify(summary, null, 2)));
    }
    log({ dir: join(dir, 'summary.json'), passed: summary.passed }, 'bench run finished');
    if (summary.error !== undefined || summary.interrupted) return EXIT.failure;
    return summary.passed ? EXIT.ok : EXIT.thresholds;
  } catch (e) {
    logger.error({ err: (e as Error).message, code: (e as { code?: string }).code }, 'bench run failed');
    io.stderr(`bench: ${(e as Error).message}\n`);
    return EXIT.failure;
  } finally {
    for (const svc of services) await svc.stop().catch(() => undefined);
    await rows?.close();
    for (const f of cleanups) await f().catch(() => undefined);
  }
}

/** One run's inputs: the APM A/B's, less its own (the intake and its cleanup), plus a target and the workers. */
interface OnceInput extends Omit<ApmAbOptions, 'apmServerUrl' | 'onCleanup' | 'warmupMs'> {
  target?: string;
  warnLog: (obj: Record<string, unknown>, msg: string) => void;
  distributed: DistributedArgs;
  warmupMs: number;
}

/** One profile against one target: the target given, or the service started here (stopped before the summary is finished). */
async function runOnce(x: OnceInput): Promise<RunSummary> {
  let target = x.target;
  let svc: ServiceProcess | undefined;
  if (!target) {
    const env = serviceEnvFor(x.profile.request.properties, x.serviceEnv, x.warnLog);
    svc = await startService({ logFile: join(x.dir, 'service.log'), env, mysqlUrl: x.mysqlUrl });
    x.services.push(svc);
    target = svc.url;
    x.log({ target, pid: svc.pid, log: svc.logFile }, 'service started');
  }
  await x.outputs.start(runInfo(x.profile, target, x.runId));
  const options = {
    profile: x.profile, target, runId: x.runId, outputs: x.outputs, rows: x.rows, mysql: x.mysql, signal: x.signal, scrape: x.scrape,
    log: x.log, serviceExit: svc?.exited, kibana: x.kibanaUrl,
  };
  const d = x.distributed;
  const summary = d.workers === undefined
    // a warm-up here; a distributed run's load, and so its warm-up, is the workers' (before they report ready)
    ? await runProfile({ ...options, warmupMs: x.warmupMs })
    // the same run with N workers as its executor: thresholds, scrapes, rows and outputs stay here, once
    : await runDistributed({
      ...options, workers: d.workers, local: !d.coordinator, listen: d.listen, dir: x.dir, connectTimeoutMs: d.connectTimeoutMs,
      allowWorkerLoss: d.allowWorkerLoss, warmupMs: x.warmupMs,
      onListening: (url) => x.log({ url, workers: d.workers }, d.coordinator ? 'coordinator listening: start each worker with --worker URL' : 'coordinator listening'),
    });
  if (svc) {
    x.services.splice(x.services.indexOf(svc), 1);
    const stopped = await stopService(svc, x.mysqlUrl);
    summary.service = stopped.report;
    if (stopped.warning) summary.warnings.push(stopped.warning);
  }
  summary.run_dir = x.dir;
  if (x.kibanaUrl) summary.kibana_url = x.kibanaUrl;
  await x.outputs.stop(summary);
  return summary;
}
