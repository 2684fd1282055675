// `npm run bench -- --profile NAME [--target URL] ...`: arguments -> profile -> target -> run -> outputs -> exit
// code. Exit codes (the k6 convention): 0 every threshold held, 99 a threshold failed, 2 bad usage (nothing was
// run), 1 anything else (the service would not start, a stage failed, interrupted).
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { SCHEMA_VERSION, type Output, type Profile, type RunInfo } from './types';
import { gitCommit } from './git-commit';
import { compareCommand, reportCommand } from './report/report-commands';
import { loadProfile, looksLikePath, ProfileError, ProfileLoadError, shippedProfileNames, type ProfileOverrides } from './profiles/index';
import { parseDuration } from './profiles/duration';
import { describeThresholdGrammar } from './metrics/thresholds';
import { OutputSet } from './outputs/index';
import { consoleOutput } from './outputs/console';
import { jsonOutput } from './outputs/json';
import { prometheusRemoteWriteOutput } from './outputs/prometheus-remote-write';
import { grafanaAnnotationsOutput } from './outputs/grafana-annotations';
import { finishOutputs, runProfile, type RunSummary } from './run';
import { startService, type ServiceProcess } from './target/service-process';
import { RowCounter } from './target/mysql-rows';
import { startApmSink, type ApmSink } from './target/apm-sink';
import { MAX_CONNECTIONS, MAX_IN_FLIGHT, MAX_RATE, MAX_UINT32 } from './profiles/limits';

export const EXIT = { ok: 0, failure: 1, usage: 2, thresholds: 99 } as const;

export interface CliArgs {
  profile: string;
  target?: string;
  overrides: ProfileOverrides;
  out?: string;
  json: boolean;
  quiet: boolean;
  apmAb: boolean;
  prometheusRw?: string;
  grafana?: string;
  serviceEnv: Record<string, string>;
  scrape: boolean;
  help: boolean;
  listProfiles: boolean;
}

type Kind = 'string' | 'boolean' | 'list';
interface FlagDef { kind: Kind; arg?: string; help: string }

const FLAGS: Record<string, FlagDef> = {
  profile: { kind: 'string', arg: 'NAME|PATH', help: 'profile name in bench/profiles/ or a path to a YAML/JSON profile (default: smoke)' },
  target: { kind: 'string', arg: 'URL', help: 'base URL of a running service; without it the bench starts the service itself' },
  duration: { kind: 'string', arg: 'D', help: 'every stage lasts D ("500ms", "30s", "2m", "1h")' },
  connections: { kind: 'string', arg: 'N', help: 'every stage becomes closed-model with N connections (ramps removed)' },
  rate: { kind: 'string', arg: 'R', help: 'every stage becomes open-model at R req/s (ramps removed, maxInFlight kept)' },
  'max-in-flight': { kind: 'string', arg: 'N', help: 'maxInFlight of every open-model stage' },
  timeout: { kind: 'string', arg: 'D', help: 'per-request timeout (request.timeout, default 10s)' },
  seed: { kind: 'string', arg: 'N', help: 'seed for request bodies (request.seed)' },
  'invalid-share': { kind: 'string', arg: 'X', help: 'share 0..1 of deliberately invalid requests (request.invalidShare)' },
  'content-type': { kind: 'string', arg: 'json|protobuf', help: 'request encoding (request.contentType)' },
  set: { kind: 'list', arg: 'PATH=VALUE', help: 'set any profile field, e.g. --set stages[1].rampTo=800 (repeatable)' },
  out: { kind: 'string', arg: 'DIR', help: 'run folder (default: bench-results/<timestamp>-<profile>/)' },
  json: { kind: 'boolean', help: 'print summary.json to stdout (the table goes to stderr)' },
  quiet: { kind: 'boolean', help: 'no live progress line' },
  'apm-ab': { kind: 'boolean', help: 'run the profile twice on self-started services, Elastic APM off then on, and report the ratios' },
  'prometheus-rw': { kind: 'string', arg: 'URL', help: 'also push live metrics by Prometheus remote write to URL' },
  grafana: { kind: 'string', arg: 'URL', help: 'also write stage annotations to Grafana at URL (token from GRAFANA_TOKEN)' },
  'service-env': { kind: 'list', arg: 'KEY=VALUE', help: 'environment for the self-started service (repeatable)' },
  'no-scrape': { kind: 'boolean', help: 'do not read the target\'s /metrics (for targets without one)' },
  'list-profiles': { kind: 'boolean', help: 'list the shipped profiles and exit' },
  help: { kind: 'boolean', help: 'this text' },
};

export function helpText(): string {
  const g = describeThresholdGrammar();
  const lines = [
    'Usage: npm run bench -- [--profile NAME|PATH] [--target URL] [options]',
    '       npm run bench -- report SUMMARY.json [--out FILE]        (see report --help)',
    '       npm run bench -- compare BASE NEW [--fail-on EXPR ...]   (see compare --help)',
    '',
    'Runs a staged load profile against the pageview service (or any Twirp Push endpoint), checks thresholds,',
    'and puts the client\'s counts next to the server\'s /metrics (and MySQL rows with MYSQL_URL).',
    '',
    'Options:',
    ...Object.entries(FLAGS).map(([name, d]) => `  ${`--${name}${d.arg ? ` ${d.arg}` : ''}`.padEnd(30)} ${d.help}`),
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
  ];
  return lines.join('\n') + '\n';
}

/** Parses argv; every problem is collected, none stops the parse. */
export function parseArgs(argv: string[]): { args: CliArgs; errors: string[] } {
  const errors: string[] = [];
  const raw = new Map<string, string | boolean | string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      errors.push(`unexpected argument "${a}" (flags start with --; see --help)`);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    const def = FLAGS[name];
    if (!def) {
      errors.push(`unknown flag --${name} (see --help)`);
      continue;
    }
    let value: string | undefined;
    if (def.kind === 'boolean') {
      if (eq !== -1) errors.push(`--${name} takes no value`);
      raw.set(name, true);
      continue;
    }
    if (eq !== -1) value = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    if (value === undefined) {
      errors.push(`--${name} needs a value (${def.arg})`);
      continue;
    }
    if (def.kind === 'list') raw.set(name, [...((raw.get(name) as string[] | undefined) ?? []), value]);
    else {
      if (raw.has(name)) errors.push(`--${name} given more than once`);
      raw.set(name, value);
    }
  }
  const str = (n: string) => raw.get(n) as string | undefined;
  const bool = (n: string) => raw.get(n) === true;
  const list = (n: string) => (raw.get(n) as string[] | undefined) ?? [];

  const overrides: ProfileOverrides = {};
  const int = (flag: string, min: number, max: number): number | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < min || n > max) {
      errors.push(`--${flag} must be a whole number from ${min} to ${max} (got "${v}")`);
      return undefined;
    }
    return n;
  };
  const positive = (flag: string, max: number): number | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      errors.push(`--${flag} must be a number > 0 and <= ${max} (got "${v}")`);
      return undefined;
    }
    return n;
  };
  const dur = (flag: string): string | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    const d = parseDuration(v);
    if ('error' in d) errors.push(`--${flag} ${d.error}`);
    else if (d.ms <= 0) errors.push(`--${flag} must be > 0 (got "${v}")`);
    else return v;
    return undefined;
  };
  overrides.duration = dur('duration');
  overrides.timeout = dur('timeout');
  overrides.connections = int('connections', 1, MAX_CONNECTIONS);
  overrides.rate = positive('rate', MAX_RATE);
  overrides.maxInFlight = int('max-in-flight', 1, MAX_IN_FLIGHT);
  overrides.seed = int('seed', 0, MAX_UINT32);
  if (str('invalid-share') !== undefined) {
    const v = str('invalid-share')!;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) errors.push(`--invalid-share must be a number from 0 to 1 (got "${v}")`);
    else overrides.invalidShare = n;
  }
  if (str('content-type') !== undefined) {
    const v = str('content-type')!;
    if (v !== 'json' && v !== 'protobuf') errors.push(`--content-type must be json or protobuf (got "${v}")`);
    else overrides.contentType = v;
  }
  if (overrides.connections !== undefined && overrides.rate !== undefined) {
    errors.push('--connections (closed model) and --rate (open model) cannot both be given');
  }
  if (list('set').length) overrides.set = list('set');
  for (const k of Object.keys(overrides) as (keyof ProfileOverrides)[]) if (overrides[k] === undefined) delete overrides[k];

  const url = (flag: string): string | undefined => {
    const v = str(flag);
    if (v === undefined) return undefined;
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
      return v.replace(/\/+$/, '');
    } catch {
      errors.push(`--${flag} must be an http(s) URL (got "${v}")`);
      return undefined;
    }
  };
  const target = url('target');
  const prometheusRw = url('prometheus-rw');
  const grafana = url('grafana');
  const serviceEnv: Record<string, string> = {};
  for (const kv of list('service-env')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(kv);
    if (!m) errors.push(`--service-env must be KEY=VALUE (got "${kv}")`);
    else serviceEnv[m[1]!] = m[2]!;
  }
  if (target !== undefined && bool('apm-ab')) errors.push('--apm-ab starts its own two services: it cannot be used with --target');
  if (target !== undefined && Object.keys(serviceEnv).length > 0) errors.push('--service-env applies to the self-started service: it cannot be used with --target');
  const profile = str('profile') ?? 'smoke';
  if (profile.trim() === '') errors.push('--profile must not be empty');

  return {
    args: {
      profile,
      target,
      overrides,
      out: str('out'),
      json: bool('json'),
      quiet: bool('quiet'),
      apmAb: bool('apm-ab'),
      prometheusRw,
      grafana,
      serviceEnv,
      scrape: !bool('no-scrape'),
      help: bool('help'),
      listProfiles: bool('list-profiles'),
    },
    errors,
  };
}

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stderrIsTTY: boolean;
  columns?: number;
  env: NodeJS.ProcessEnv;
}

/**
 * The CLI's own log lines: pino JSON on stderr when it is not a terminal (machines read it), one readable line
 * ("bench info: service started target=...") on a terminal.
 */
function logDestination(io: Io): pino.DestinationStream {
  if (!io.stderrIsTTY) return { write: (line: string) => io.stderr(line) };
  const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  return {
    write(line: string) {
      try {
        const { level, time: _t, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        io.stderr(`bench ${names[level as number] ?? level}: ${String(msg)}${fields ? `  ${fields}` : ''}\n`);
      } catch {
        io.stderr(line);
      }
    },
  };
}

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** The whole CLI as a function returning the exit code, so tests can call it in-process or as a child. */
export async function main(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  if (argv[0] === 'report') return reportCommand(argv.slice(1), io);
  if (argv[0] === 'compare') return compareCommand(argv.slice(1), io);
  const { args, errors } = parseArgs(argv);
  if (args.help) {
    io.stdout(helpText());
    return errors.length ? EXIT.usage : EXIT.ok;
  }
  if (args.listProfiles && errors.length === 0) {
    io.stdout(shippedProfileNames().join('\n') + '\n');
    return EXIT.ok;
  }
  // `npm run` runs in the package root; relative paths mean the directory the user typed the command in.
  const base = io.env.INIT_CWD || process.cwd();
  let profile: Profile | undefined;
  try {
    profile = loadProfile(looksLikePath(args.profile) ? resolve(base, args.profile) : args.profile, args.overrides).profile;
  } catch (e) {
    if (e instanceof ProfileError) errors.push(...e.problems.map((p) => `profile ${e.source}: ${p}`));
    else if (e instanceof ProfileLoadError) errors.push(e.message);
    else throw e;
  }
  if (errors.length > 0 || !profile) {
    io.stderr(`bench: ${errors.length} problem(s), nothing was run:\n${errors.map((e) => `  - ${e}`).join('\n')}\nSee --help.\n`);
    return EXIT.usage;
  }

  const started = new Date();
  const runId = `${timestamp(started)}-${profile.name}-${randomBytes(3).toString('hex')}`;
  const dir = args.out !== undefined ? resolve(base, args.out) : resolve(join('bench-results', `${timestamp(started)}-${profile.name}`));
  mkdirSync(dir, { recursive: true });
  const logger = pino({ base: undefined, level: args.quiet ? 'warn' : 'info' }, logDestination(io));
  const log = (obj: Record<string, unknown>, msg: string) => logger.info(obj, msg);
  const warnLog = (obj: Record<string, unknown>, msg: string) => logger.warn(obj, msg);

  const outputs: Output[] = [
    consoleOutput({
      write: args.json ? io.stderr : io.stdout,
      progress: io.stderrIsTTY && !args.quiet ? io.stderr : undefined,
      profile,
      columns: io.columns,
    }),
    jsonOutput({ dir, print: args.json ? io.stdout : undefined }),
  ];
  // The output labels every series with the run, profile and stage itself.
  if (args.prometheusRw) outputs.push(prometheusRemoteWriteOutput({ url: args.prometheusRw }));
  if (args.grafana) outputs.push(grafanaAnnotationsOutput({ url: args.grafana, token: io.env.GRAFANA_TOKEN || undefined }));
  const outputSet = new OutputSet(outputs, { onWarning: (w) => warnLog(w, `output ${w.output} failed in ${w.phase}`) });

  const mysqlUrl = io.env.MYSQL_URL || undefined;
  let rows: RowCounter | undefined;
  const services: ServiceProcess[] = [];
  let sink: ApmSink | undefined;
  try {
    if (mysqlUrl) {
      try {
        rows = await RowCounter.connect(mysqlUrl);
      } catch (e) {
        warnLog({ err: (e as Error).message }, 'MYSQL_URL is set but the bench cannot count rows; continuing without');
      }
    }
    log({ dir, runId, profile: profile.name }, 'bench run starting');
    let summary: RunSummary;
    if (args.apmAb) {
      summary = await runApmAb({ profile, args, dir, runId, outputSet, rows, mysqlUrl, io, services, log, signal, setSink: (s) => { sink = s; } });
    } else {
      let target = args.target;
      if (!target) {
        const svc = await startService({ logFile: join(dir, 'service.log'), env: serviceEnvFor(profile, args.serviceEnv, warnLog), mysqlUrl });
        services.push(svc);
        target = svc.url;
        log({ target, pid: svc.pid, log: join(dir, 'service.log') }, 'service started');
      }
      summary = await runProfile({ profile, target, runId, outputs: outputSet, rows, signal, scrape: args.scrape, log });
      for (const svc of services.splice(0)) {
        const how = await svc.stop();
        summary.service = {
          log: join(dir, 'service.log'), store: mysqlUrl ? 'mysql' : 'memory', exit_code: how.code, signal: how.signal, killed: how.killed,
        };
        if (how.code !== 0) summary.warnings.push(`the service did not stop cleanly (exit ${how.code}, signal ${how.signal}${how.killed ? ', killed after the stop timeout' : ''}); see service.log`);
      }
      summary.run_dir = dir;
      await finishOutputs(outputSet, summary);
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
    await sink?.close();
  }
}

/** Largest ALLOWED_PROPERTIES value the bench passes on (an environment variable, not a file). */
const MAX_ALLOWED_PROPERTIES_CHARS = 64 * 1024;

/**
 * The self-started service accepts only the properties it is told about (ALLOWED_PROPERTIES, default "news"):
 * pass the profile's key space on, so valid requests are valid. --service-env wins.
 */
export function serviceEnvFor(
  profile: Profile, extra: Record<string, string>, warn: (obj: Record<string, unknown>, msg: string) => void,
): Record<string, string> {
  const env: Record<string, string> = {};
  const joined = profile.request.properties.join(',');
  if (joined.length <= MAX_ALLOWED_PROPERTIES_CHARS) env.ALLOWED_PROPERTIES = joined;
  else if (extra.ALLOWED_PROPERTIES === undefined) {
    warn({ chars: joined.length }, 'the profile has too many property names to pass as ALLOWED_PROPERTIES; set it with --service-env');
  }
  return { ...env, ...extra };
}

interface AbInput {
  profile: Profile;
  args: CliArgs;
  dir: string;
  runId: string;
  outputSet: OutputSet;
  rows?: RowCounter;
  mysqlUrl?: string;
  io: Io;
  services: ServiceProcess[];
  log: (obj: Record<string, unknown>, msg: string) => void;
  signal?: AbortSignal;
  setSink: (s: ApmSink) => void;
}

/**
 * --apm-ab: the same profile against two fresh services, APM off then on (same seed, same stages), each stage
 * renamed "apm-off/<stage>" and "apm-on/<stage>" in one summary, with on/off ratios in summary.apm_ab.
 */
async function runApmAb(x: AbInput): Promise<RunSummary> {
  let apmUrl = x.io.env.ELASTIC_APM_SERVER_URL || undefined;
  let sink: ApmSink | undefined;
  if (!apmUrl) {
    sink = await startApmSink();
    x.setSink(sink);
    apmUrl = sink.url;
  }
  const variants = [
    { key: 'off', env: { ELASTIC_APM_ACTIVE: 'false', ELASTIC_APM_SERVER_URL: '' } },
    { key: 'on', env: { ELASTIC_APM_ACTIVE: 'true', ELASTIC_APM_SERVER_URL: apmUrl } },
  ];
  const renamed = (prefix: string): Profile => ({
    ...x.profile,
    stages: x.profile.stages.map((s) => ({ ...s, name: `${prefix}/${s.name}` })),
  });
  const allStages = variants.flatMap((v) => renamed(`apm-${v.key}`).stages);
  const info: RunInfo = {
    runId: x.runId, profile: x.profile.name, target: 'self-started (apm off, apm on)', startedAt: Date.now(),
    stages: allStages.map((s, index) => ({ index, name: s.name, model: s.model, durationMs: s.durationMs })),
  };
  await x.outputSet.start(info);
  // The variant runs share the outputs already started; each run's own start/stop are no-ops on this set.
  const passthrough = new OutputSet([{
    name: 'apm-ab',
    start: async () => {},
    add: (e) => x.outputSet.add(e),
    stop: async () => {},
  }]);
  const parts: RunSummary[] = [];
  const targets: string[] = [];
  for (const v of variants) {
    if (x.signal?.aborted) break;
    const env = { ...v.env, ...serviceEnvFor(x.profile, x.args.serviceEnv, x.log) };
    const svc = await startService({ logFile: join(x.dir, `service-apm-${v.key}.log`), env, mysqlUrl: x.mysqlUrl });
    x.services.push(svc);
    x.log({ target: svc.url, apm: v.key }, 'service started');
    targets.push(svc.url);
    const s = await runProfile({
      profile: renamed(`apm-${v.key}`), target: svc.url, runId: x.runId, outputs: passthrough, rows: x.rows,
      signal: x.signal, scrape: x.args.scrape, log: x.log,
    });
    parts.push(s);
    await svc.stop();
    x.services.splice(x.services.indexOf(svc), 1);
    if (s.error !== undefined || s.interrupted) break;
  }
  const [off, on] = parts;
  const summary: RunSummary = {
    schema_version: SCHEMA_VERSION,
    run_id: x.runId,
    profile: x.profile.name,
    target: targets.join(' , '),
    git_commit: gitCommit(),
    started_at: new Date(info.startedAt).toISOString(),
    ended_at: new Date().toISOString(),
    passed: parts.length === 2 && parts.every((p) => p.passed),
    aborted: parts.some((p) => p.aborted) || parts.length < 2,
    // run-level thresholds of each variant are labelled with it ("apm-off", "apm-on") instead of null
    thresholds: parts.flatMap((p, i) => p.thresholds.map((t) => (t.stage === null ? { ...t, stage: `apm-${variants[i]!.key}` } : t))),
    stages: parts.flatMap((p) => p.stages),
    warnings: parts.flatMap((p) => p.warnings),
    apm_ab: apmAbRatios(off, on, sink ? `built-in sink (${sink.stats.intakeRequests} intake requests, ${sink.stats.bytes} bytes)` : apmUrl),
    run_dir: x.dir,
  };
  const err = parts.find((p) => p.error !== undefined)?.error;
  if (err !== undefined) summary.error = err;
  if (parts.some((p) => p.interrupted)) summary.interrupted = true;
  await finishOutputs(x.outputSet, summary);
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

if (require.main === module) {
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\nbench: ${sig}: ending the current stage and writing the summary (again to quit now)\n`);
      ac.abort();
    } else {
      process.exit(EXIT.failure);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns,
    env: process.env,
  }, ac.signal).then(
    (code) => {
      process.exitCode = code;
      // Undici keep-alive sockets or a stray timer in an output must not keep a finished run alive.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(EXIT.failure);
    },
  );
}
