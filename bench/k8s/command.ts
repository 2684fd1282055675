// `npm run bench -- k8s render|run --profile P --workers N --target URL [--image IMG] ...`: the profile flags are
// the run's own (overrides included, validated the same way); the Kubernetes ones are listed here. `render`
// prints the manifests; `run` creates them, follows the coordinator and exits with its code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Profile } from '../src/types';
import { commandLogger, EXIT, usageError, type Io } from '../src/command';
import { loadProfile, looksLikePath, ProfileError, ProfileLoadError, type ProfileOverrides } from '../src/profiles/index';
import type { DistributedArgs } from '../src/distributed/role-args';
import { render, RenderError, toYaml, type RenderOptions } from './render';
import { k8sRun } from './run';

/** What the run command's flag parser gives back (passed in by the k8s command, so this file does not import it). */
export interface RunArgsParser {
  (argv: string[]): {
    args: { profile: string; target?: string; overrides: ProfileOverrides; out?: string; distributed: DistributedArgs };
    errors: string[];
  };
}

const K8S_FLAGS: Record<string, { arg: string; help: string }> = {
  image: { arg: 'IMG', help: 'the bench image (default pageview-bench:latest; build it with bench/k8s/Dockerfile)' },
  namespace: { arg: 'NS', help: 'namespace of every object (run: default the kubeconfig context\'s)' },
  name: { arg: 'NAME', help: 'object name prefix (default bench-<profile>)' },
  'worker-cpu': { arg: 'Q', help: 'CPU of each worker pod, requests = limits (default 1)' },
  'worker-memory': { arg: 'Q', help: 'memory of each worker pod (default 1Gi)' },
  'coordinator-cpu': { arg: 'Q', help: 'CPU of the coordinator pod (default 500m)' },
  'coordinator-memory': { arg: 'Q', help: 'memory of the coordinator pod (default 512Mi)' },
  ttl: { arg: 'SECONDS', help: 'ttlSecondsAfterFinished of both Jobs (default 3600)' },
  'image-pull-policy': { arg: 'Always|IfNotPresent|Never', help: 'imagePullPolicy of the containers (default: the cluster\'s)' },
};

export function k8sHelp(): string {
  return [
    'Usage: npm run bench -- k8s render --profile P --workers N --target URL [options]',
    '       npm run bench -- k8s run    --profile P --workers N --target URL [options] [--out DIR]',
    '',
    'render prints a ConfigMap (the resolved profile), the coordinator (Job + Service) and the workers (an Indexed',
    'Job, JOB_COMPLETION_INDEX = worker index) as YAML. run creates them in the current kubeconfig context, follows',
    'the coordinator\'s log, copies summary.json back into DIR and exits with the coordinator\'s exit code.',
    '--target is the service as the pods reach it. Every profile flag of a run applies (--duration, --rate, --set, ...),',
    'as do --connect-timeout and --allow-worker-loss.',
    '',
    'Kubernetes options:',
    ...Object.entries(K8S_FLAGS).map(([n, d]) => `  ${`--${n} ${d.arg}`.padEnd(36)} ${d.help}`),
    '',
  ].join('\n');
}

export async function k8sMain(argv: string[], io: Io, signal: AbortSignal | undefined, parseRunArgs: RunArgsParser): Promise<number> {
  const sub = argv[0];
  if (sub !== 'render' && sub !== 'run') {
    return usageError(io, 'k8s', [sub === undefined ? 'which one: k8s render or k8s run' : `unknown subcommand "${sub}" (render or run)`]);
  }
  const errors: string[] = [];
  // the Kubernetes flags are taken out; the rest is a run's command line
  const k: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq === -1 ? undefined : eq) : '';
    if (!(name in K8S_FLAGS)) {
      rest.push(a);
      continue;
    }
    const v = eq !== -1 ? a.slice(eq + 1) : argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--') ? argv[++i] : undefined;
    if (v === undefined) errors.push(`--${name} needs a value (${K8S_FLAGS[name]!.arg})`);
    else if (name in k) errors.push(`--${name} given more than once`);
    else k[name] = v;
  }
  const { args, errors: runErrors } = parseRunArgs(rest);
  errors.push(...runErrors);
  const d = args.distributed;
  if (d.workers === undefined && !rest.some((a) => a.startsWith('--workers'))) errors.push('--workers N is required (how many worker pods)');
  if (args.target === undefined) errors.push('--target URL is required (the service as the pods reach it)');
  if (d.coordinator || d.worker !== undefined || rest.some((a) => a.startsWith('--listen'))) {
    errors.push('--coordinator, --worker and --listen are set by the manifests themselves');
  }
  let ttl: number | undefined;
  if (k.ttl !== undefined) {
    if (!/^\d+$/.test(k.ttl) || Number(k.ttl) > 604_800) errors.push(`--ttl must be whole seconds from 0 to 604800 (got "${k.ttl}")`);
    else ttl = Number(k.ttl);
  }
  const pull = k['image-pull-policy'];
  if (pull !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(pull)) errors.push(`--image-pull-policy must be Always, IfNotPresent or Never (got "${pull}")`);
  const base = io.cwd;
  let profile: Profile | undefined;
  try {
    profile = loadProfile(looksLikePath(args.profile) ? resolve(base, args.profile) : args.profile, args.overrides).profile;
  } catch (e) {
    if (e instanceof ProfileError) errors.push(...e.problems.map((p) => `profile ${e.source}: ${p}`));
    else if (e instanceof ProfileLoadError) errors.push(e.message);
    else throw e;
  }
  let objects: Record<string, unknown>[] = [];
  if (errors.length === 0 && profile) {
    const opts: RenderOptions = {
      profile, workers: d.workers!, target: args.target!, image: k.image, name: k.name, namespace: k.namespace,
      worker: { cpu: k['worker-cpu'] ?? '1', memory: k['worker-memory'] ?? '1Gi' },
      coordinator: { cpu: k['coordinator-cpu'] ?? '500m', memory: k['coordinator-memory'] ?? '512Mi' },
      connectTimeoutMs: d.connectTimeoutMs, ttlSecondsAfterFinished: ttl, allowWorkerLoss: d.allowWorkerLoss,
      imagePullPolicy: pull as RenderOptions['imagePullPolicy'],
    };
    try {
      objects = render(opts);
    } catch (e) {
      if (!(e instanceof RenderError)) throw e;
      errors.push(...e.message.split('\n'));
    }
  }
  if (errors.length > 0 || !profile) return usageError(io, `k8s ${sub}`, errors);
  if (sub === 'render') {
    io.stdout(toYaml(objects));
    return EXIT.ok;
  }

  const logger = commandLogger(io, 'info');
  const dir = args.out !== undefined ? resolve(base, args.out)
    : resolve(join('bench-results', `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${profile.name}-k8s`));
  try {
    const r = await k8sRun({
      objects, namespace: k.namespace, signal,
      onLog: (line) => { if (!line.startsWith('H4sI') && !/^[A-Za-z0-9+/=]{76}$/.test(line)) io.stderr(`coordinator | ${line}\n`); },
      log: (obj, msg) => logger.info(obj, msg),
    });
    if (r.summary !== null) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'summary.json'), r.summary);
      logger.info({ file: join(dir, 'summary.json'), exitCode: r.exitCode }, 'summary.json copied from the coordinator');
    } else {
      logger.error({ err: r.summaryError }, 'no summary.json from the coordinator');
    }
    return r.exitCode;
  } catch (e) {
    logger.error({ err: (e as Error).message, code: (e as { code?: string }).code }, 'k8s run failed');
    return EXIT.failure;
  }
}
