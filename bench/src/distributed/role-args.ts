// The distributed roles on the command line: `--workers N` (local worker processes), `--coordinator` (remote
// workers dial in), `--worker URL` (be one of them). Parsed and checked once, every problem reported together.
import { hostname } from 'node:os';
import { parseDuration } from '../profiles/duration';
import { MAX_SEGMENTS } from '../segment';
import { runWorker, type WorkerOptions } from './worker';

export interface DistributedArgs {
  workers?: number;
  coordinator: boolean;
  worker?: string;
  listen: { host: string; port: number };
  connectTimeoutMs: number;
  allowWorkerLoss: boolean;
  summaryToLog: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 60_000;
const MAX_CONNECT_TIMEOUT_MS = 3_600_000;
export const DEFAULT_COORDINATOR_PORT = 7070;

interface Raw {
  str(name: string): string | undefined;
  bool(name: string): boolean;
  has(name: string): boolean;
}

/** HOST:PORT, [IPv6]:PORT, or :PORT. */
export function parseListen(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function parseDistributedArgs(raw: Raw, target: string | undefined, errors: string[]): DistributedArgs {
  const out: DistributedArgs = {
    coordinator: raw.bool('coordinator'),
    listen: { host: '127.0.0.1', port: 0 },
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    allowWorkerLoss: raw.bool('allow-worker-loss'),
    summaryToLog: raw.bool('summary-to-log'),
  };
  const w = raw.str('workers');
  if (w !== undefined) {
    const n = Number(w);
    if (!/^\d+$/.test(w.trim()) || n < 1 || n > MAX_SEGMENTS) errors.push(`--workers must be a whole number from 1 to ${MAX_SEGMENTS} (got "${w}")`);
    else out.workers = n;
  }
  const ct = raw.str('connect-timeout');
  if (ct !== undefined) {
    const d = parseDuration(ct);
    if ('error' in d) errors.push(`--connect-timeout ${d.error}`);
    else if (d.ms <= 0 || d.ms > MAX_CONNECT_TIMEOUT_MS) errors.push(`--connect-timeout must be > 0 and at most 1h (got "${ct}")`);
    else out.connectTimeoutMs = d.ms;
  }
  if (out.coordinator) out.listen = { host: '0.0.0.0', port: DEFAULT_COORDINATOR_PORT };
  const l = raw.str('listen');
  if (l !== undefined) {
    const p = parseListen(l);
    if (!p) errors.push(`--listen must be HOST:PORT (got "${l}")`);
    else out.listen = p;
  }
  const url = raw.str('worker');
  if (url !== undefined) {
    try {
      const u = new URL(url);
      if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error('not ws');
      out.worker = url;
    } catch {
      errors.push(`--worker must be the coordinator's ws://host:port URL (got "${url}")`);
    }
    // the profile, its overrides and the outputs are the coordinator's; a worker only has its own target view
    for (const f of ['workers', 'coordinator', 'listen', 'profile', 'duration', 'connections', 'rate', 'max-in-flight', 'set', 'json', 'apm-ab', 'prometheus-rw', 'grafana', 'out', 'service-env', 'allow-worker-loss', 'summary-to-log']) {
      if (raw.has(f)) errors.push(`--${f} is the coordinator's to give; a worker (--worker) takes only --target, --connect-timeout and --quiet`);
    }
  }
  if (out.coordinator && out.workers === undefined) errors.push('--coordinator needs --workers N (how many workers to wait for)');
  if (out.coordinator && target === undefined) errors.push('--coordinator needs --target URL (the workers on other hosts cannot reach a service this process starts on 127.0.0.1)');
  if (l !== undefined && out.workers === undefined) errors.push('--listen applies to the coordinator (--workers N)');
  if (out.workers !== undefined && raw.bool('apm-ab')) errors.push('--apm-ab cannot be combined with --workers');
  return out;
}

/** The segment index and name a worker process was given (local: BENCH_WORKER_INDEX; Indexed Job: JOB_COMPLETION_INDEX). */
export function workerIdentity(env: NodeJS.ProcessEnv): { index: number | null; host: string } {
  const raw = env.BENCH_WORKER_INDEX ?? env.JOB_COMPLETION_INDEX;
  const n = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : null;
  return { index: n, host: env.BENCH_HOST || hostname() };
}

/** `--worker URL`: runs to the end; exit 0 when the coordinator said done, 1 otherwise. */
export async function runWorkerRole(o: WorkerOptions, logError: (obj: Record<string, unknown>, msg: string) => void): Promise<number> {
  const r = await runWorker(o);
  if (r.ok) return 0;
  logError({ err: r.error }, 'worker failed');
  return 1;
}
