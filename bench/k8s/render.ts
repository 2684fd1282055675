// `bench k8s render`: the objects that run one profile on N workers in a cluster. k6-operator's TestRun is the
// model (a runner Job per instance, a starter that curls them one after another); ours differs where that one
// hurts: the workers are ONE Indexed Job (JOB_COMPLETION_INDEX is the segment index, so shares are exact), and
// the coordinator is a Job of its own that the workers dial, so start times, merging and thresholds happen once.
//
// Plain objects, printed as YAML; the tests validate every one with kubernetes-models and check no key is
// unknown to the API (a @kubernetes/client-node loadYaml/dumpYaml round trip keeps every known key).
import { stringify } from 'yaml';
import type { Profile } from '../src/types';
import { profileDocument } from '../src/distributed/profile-document';

export const DEFAULT_IMAGE = 'pageview-bench:latest';
export const COORDINATOR_PORT = 7070;
/** Where the ConfigMap's profile is mounted in every pod. */
export const PROFILE_MOUNT = '/etc/bench';
export const PROFILE_FILE = 'profile.json';

export interface Resources { cpu: string; memory: string }

export interface RenderOptions {
  profile: Profile;
  workers: number;
  /** The service's URL as the pods see it (e.g. http://pageview.default.svc:8080). */
  target: string;
  image?: string;
  /** Object name prefix (DNS-1123 label); default `bench-<profile>`. */
  name?: string;
  namespace?: string;
  /** Per worker pod; requests = limits, so every worker gets the same guaranteed CPU. */
  worker?: Resources;
  coordinator?: Resources;
  /** How long the coordinator waits for all workers to connect (workers wait as long for the coordinator). */
  connectTimeoutMs?: number;
  /** Seconds a finished Job (and its pods' logs) stays before the cluster deletes it. */
  ttlSecondsAfterFinished?: number;
  /** `--allow-worker-loss`: a lost worker is reported but does not fail the run. */
  allowWorkerLoss?: boolean;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

export class RenderError extends Error {
  readonly code = 'BENCH_K8S_RENDER_INVALID';
}

export const MAX_WORKERS = 1000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUANTITY = /^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** A profile name as a DNS-1123 label: lower case, [-a-z0-9], at most 40 characters (room for suffixes). */
export function dnsName(s: string): string {
  const n = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return n || 'bench';
}

/**
 * The Jobs must outlive the run but not hang forever: every stage's length, plus per stage the in-flight drain
 * (the request timeout), the server's settle and the start lead, plus the time to connect, plus two minutes.
 */
export function activeDeadlineSeconds(profile: Profile, connectTimeoutMs: number): number {
  const perStage = profile.request.timeoutMs + 5_000 + 2_000;
  const ms = profile.stages.reduce((a, s) => a + s.durationMs + perStage, 0) + connectTimeoutMs + 120_000;
  return Math.ceil(ms / 1000);
}

export function render(o: RenderOptions): Record<string, unknown>[] {
  const problems: string[] = [];
  if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > MAX_WORKERS) problems.push(`--workers must be a whole number from 1 to ${MAX_WORKERS} (got ${o.workers})`);
  const name = o.name ?? `bench-${dnsName(o.profile.name)}`;
  if (!DNS_LABEL.test(name) || name.length > 50) problems.push(`--name must be a DNS-1123 label of at most 50 characters (got "${name}")`);
  if (o.namespace !== undefined && (!DNS_LABEL.test(o.namespace) || o.namespace.length > 63)) problems.push(`--namespace must be a DNS-1123 label (got "${o.namespace}")`);
  const worker = o.worker ?? { cpu: '1', memory: '1Gi' };
  const coordinator = o.coordinator ?? { cpu: '500m', memory: '512Mi' };
  for (const [what, r] of [['worker', worker], ['coordinator', coordinator]] as const) {
    if (!QUANTITY.test(r.cpu)) problems.push(`--${what}-cpu must be a Kubernetes quantity like 1, 1.5 or 500m (got "${r.cpu}")`);
    if (!QUANTITY.test(r.memory)) problems.push(`--${what}-memory must be a Kubernetes quantity like 512Mi or 1Gi (got "${r.memory}")`);
  }
  try {
    const u = new URL(o.target);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') problems.push(`--target must be an http(s) URL (got "${o.target}")`);
  } catch {
    problems.push(`--target must be an http(s) URL (got "${o.target}")`);
  }
  if (problems.length > 0) throw new RenderError(problems.join('\n'));

  const image = o.image ?? DEFAULT_IMAGE;
  const connectTimeoutMs = o.connectTimeoutMs ?? 120_000;
  const deadline = activeDeadlineSeconds(o.profile, connectTimeoutMs);
  const ttl = o.ttlSecondsAfterFinished ?? 3600;
  const ns = o.namespace !== undefined ? { namespace: o.namespace } : {};
  const labels = (component: string) => ({
    'app.kubernetes.io/name': 'pageview-bench',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': component,
  });
  const coordinatorHost = `${name}-coordinator${o.namespace ? `.${o.namespace}.svc` : ''}`;
  const profilePath = `${PROFILE_MOUNT}/${PROFILE_FILE}`;
  const volume = { name: 'profile', configMap: { name: `${name}-profile` } };
  const mount = { name: 'profile', mountPath: PROFILE_MOUNT, readOnly: true };
  const resources = (r: Resources) => ({ requests: { cpu: r.cpu, memory: r.memory }, limits: { cpu: r.cpu, memory: r.memory } });
  const connectTimeout = `${Math.ceil(connectTimeoutMs / 1000)}s`;

  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${name}-profile`, ...ns, labels: labels('profile') },
    data: { [PROFILE_FILE]: JSON.stringify(profileDocument(o.profile), null, 2) + '\n' },
  };

  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `${name}-coordinator`, ...ns, labels: labels('coordinator') },
    spec: {
      selector: labels('coordinator'),
      ports: [{ name: 'coordinator', port: COORDINATOR_PORT, targetPort: COORDINATOR_PORT, protocol: 'TCP' }],
    },
  };

  const coordinatorArgs = [
    '--profile', profilePath,
    '--coordinator', '--listen', `0.0.0.0:${COORDINATOR_PORT}`,
    '--workers', String(o.workers),
    '--target', o.target,
    '--connect-timeout', connectTimeout,
    '--out', '/tmp/bench-results',
    '--summary-to-log',
    ...(o.allowWorkerLoss ? ['--allow-worker-loss'] : []),
  ];
  const coordinatorJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-coordinator`, ...ns, labels: labels('coordinator') },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: deadline,
      ttlSecondsAfterFinished: ttl,
      template: {
        metadata: { labels: labels('coordinator') },
        spec: {
          restartPolicy: 'Never',
          containers: [{
            name: 'coordinator',
            image,
            ...(o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {}),
            args: coordinatorArgs,
            ports: [{ name: 'coordinator', containerPort: COORDINATOR_PORT, protocol: 'TCP' }],
            env: [{ name: 'BENCH_HOST', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
            resources: resources(coordinator),
            volumeMounts: [mount],
          }],
          volumes: [volume],
        },
      },
    },
  };

  const workerLabels = labels('worker');
  const workersJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-workers`, ...ns, labels: workerLabels },
    spec: {
      completionMode: 'Indexed',
      completions: o.workers,
      parallelism: o.workers,
      backoffLimit: 0,
      activeDeadlineSeconds: deadline,
      ttlSecondsAfterFinished: ttl,
      template: {
        metadata: { labels: workerLabels },
        spec: {
          restartPolicy: 'Never',
          // one worker per node where there are enough nodes, evenly spread where there are not
          topologySpreadConstraints: [{
            maxSkew: 1,
            topologyKey: 'kubernetes.io/hostname',
            whenUnsatisfiable: 'DoNotSchedule',
            labelSelector: { matchLabels: workerLabels },
          }],
          containers: [{
            name: 'worker',
            image,
            ...(o.imagePullPolicy ? { imagePullPolicy: o.imagePullPolicy } : {}),
            args: ['--worker', `ws://${coordinatorHost}:${COORDINATOR_PORT}`, '--connect-timeout', connectTimeout],
            env: [
              // the segment index; Kubernetes sets it for Indexed Jobs, spelled out so the manifest says where k comes from
              { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } },
              { name: 'BENCH_WORKERS', value: String(o.workers) },
              { name: 'BENCH_HOST', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            ],
            resources: resources(worker),
          }],
        },
      },
    },
  };
  return [configMap, service, coordinatorJob, workersJob];
}

/** Multi-document YAML, in the order to apply them. */
export function toYaml(objects: Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
