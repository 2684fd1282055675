// `bench k8s run`: creates the rendered objects in the cluster of the current kubeconfig context, follows the
// coordinator's log, copies summary.json back (from the frame in that log, summary-log.ts) and resolves with the
// coordinator's exit code. @kubernetes/client-node 1.x: 2.x needs Node >= 22.19 and crashes on import under 20.
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { extractSummary } from '../src/distributed/summary-log';

export interface K8sRunOptions {
  objects: Record<string, unknown>[];
  /** namespace to create in (default: the kubeconfig context's, else "default") */
  namespace?: string;
  /** every line of the coordinator's log, as it comes */
  onLog: (line: string) => void;
  log: (obj: Record<string, unknown>, msg: string) => void;
  signal?: AbortSignal;
  /** how long to wait for the coordinator's pod to start (image pulls, scheduling); default 10 min */
  podStartTimeoutMs?: number;
  kubeConfig?: k8s.KubeConfig;
}

export interface K8sRunResult {
  exitCode: number;
  summary: string | null;
  summaryError?: string;
  pod: string;
}

export class K8sRunError extends Error {
  constructor(readonly code: 'BENCH_K8S_CREATE' | 'BENCH_K8S_POD', message: string) {
    super(message);
  }
}

/** At most this much of the coordinator's log is kept in memory (the summary frame is near its end). */
const MAX_LOG_BYTES = 64 * 1024 * 1024;

const meta = (o: Record<string, unknown>) => o.metadata as { name: string; labels: Record<string, string> };

export async function k8sRun(o: K8sRunOptions): Promise<K8sRunResult> {
  const kc = o.kubeConfig ?? new k8s.KubeConfig();
  if (!o.kubeConfig) kc.loadFromDefault();
  const namespace = o.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);

  const created: { kind: string; name: string }[] = [];
  const cleanup = async () => {
    // the Jobs' pods go with them; ConfigMap and Service are left for ttl-less inspection only if the run got far
    for (const c of created.filter((x) => x.kind === 'Job')) {
      await batch.deleteNamespacedJob({ name: c.name, namespace, propagationPolicy: 'Background' }).catch(() => undefined);
    }
  };
  for (const obj of o.objects) {
    const { name } = meta(obj);
    const kind = String(obj.kind);
    const body = { ...obj, metadata: { ...meta(obj), namespace } } as never;
    try {
      if (kind === 'ConfigMap') await core.createNamespacedConfigMap({ namespace, body });
      else if (kind === 'Service') await core.createNamespacedService({ namespace, body });
      else if (kind === 'Job') await batch.createNamespacedJob({ namespace, body });
      else throw new Error(`cannot create a ${kind}`);
    } catch (e) {
      await cleanup();
      const status = (e as { code?: number }).code;
      throw new K8sRunError('BENCH_K8S_CREATE', status === 409
        ? `${kind} ${namespace}/${name} already exists (a previous run? delete it, or pass --name)`
        : `cannot create ${kind} ${namespace}/${name}: ${(e as Error).message}`);
    }
    created.push({ kind, name });
    o.log({ kind, name, namespace }, 'created');
  }

  const coordinator = o.objects.find((x) => x.kind === 'Job' && meta(x).labels['app.kubernetes.io/component'] === 'coordinator')!;
  const labels = meta(coordinator).labels;
  const labelSelector = `app.kubernetes.io/instance=${labels['app.kubernetes.io/instance']},app.kubernetes.io/component=coordinator`;
  const onAbort = () => void cleanup();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const pod = await waitForPod(core, namespace, labelSelector, o.podStartTimeoutMs ?? 600_000, o.signal);
    o.log({ pod, namespace }, 'following the coordinator');
    let text = '';
    let partial = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        const s = partial + chunk.toString('utf8');
        const lines = s.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) o.onLog(l);
        text += chunk.toString('utf8');
        if (text.length > MAX_LOG_BYTES) text = text.slice(text.length - MAX_LOG_BYTES);
        cb();
      },
    });
    // client-node 1.x pipes the log's body into the stream and ignores a done callback: the stream's end is the log's
    const ended = new Promise<void>((resolve, reject) => {
      sink.once('finish', () => resolve());
      sink.once('error', reject);
    });
    const controller = await new k8s.Log(kc).log(namespace, pod, 'coordinator', sink, { follow: true });
    const stopFollowing = () => controller.abort();
    o.signal?.addEventListener('abort', stopFollowing, { once: true });
    try {
      await ended;
    } finally {
      o.signal?.removeEventListener('abort', stopFollowing);
    }
    if (partial) o.onLog(partial);
    const exitCode = await waitForExit(core, namespace, pod, 120_000, o.signal);
    let summary: string | null = null;
    let summaryError: string | undefined;
    try {
      summary = extractSummary(text);
    } catch (e) {
      summaryError = (e as Error).message;
    }
    return { exitCode, summary, summaryError, pod };
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (o.signal?.aborted) await cleanup();
  }
}

async function waitForPod(core: k8s.CoreV1Api, namespace: string, labelSelector: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no pod yet';
  while (Date.now() < deadline && !signal?.aborted) {
    const list = await core.listNamespacedPod({ namespace, labelSelector });
    const pod = list.items[0];
    if (pod?.metadata?.name) {
      const phase = pod.status?.phase ?? 'Unknown';
      if (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed') return pod.metadata.name;
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      last = `${pod.metadata.name} ${phase}${waiting ? ` (${waiting.reason}: ${waiting.message ?? ''})` : ''}`;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new K8sRunError('BENCH_K8S_POD', `the coordinator's pod did not start within ${Math.round(timeoutMs / 1000)} s: ${last}`);
}

async function waitForExit(core: k8s.CoreV1Api, namespace: string, name: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal?.aborted) {
    const pod = await core.readNamespacedPod({ name, namespace });
    const term = pod.status?.containerStatuses?.find((c) => c.name === 'coordinator')?.state?.terminated;
    if (term) return term.exitCode;
    if (pod.status?.phase === 'Failed') return 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return 1;
}
