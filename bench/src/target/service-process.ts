// With no --target the bench starts the service itself: `node [V8 flags] [-r apm-preload] service/src/start.cjs` from the repo
// root, on a free port, waits (bounded) for GET /readyz = 200, and stops it with SIGTERM (bounded, then SIGKILL).
// Its stdout and stderr go to a log file in the run folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { basename, resolve } from 'node:path';
import { APM_PRELOAD, serviceNodeArgs } from '../../../service/src/launch';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
/**
 * The service's own node arguments (service/src/launch.ts). The Elastic APM agent must load before anything else
 * (a CommonJS -r preload); it stays inactive unless ELASTIC_APM_SERVER_URL is set, so it is always passed when the
 * service ships it.
 */
export function serviceCommand(root = REPO_ROOT): string[] {
  return serviceNodeArgs({ preload: existsSync(resolve(root, APM_PRELOAD)) });
}

export interface ServiceOptions {
  /** Where the service's output goes (appended). */
  logFile: string;
  /** Extra environment (--service-env KEY=VALUE), applied last. */
  env?: Record<string, string>;
  /** MYSQL_URL for the service; unset = its embedded store. */
  mysqlUrl?: string;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export class ServiceStartError extends Error {
  readonly code = 'BENCH_SERVICE_START';
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** Where its output went. */
  logFile: string;
  /** Resolves when the process exits, for whatever reason (the run watches it: a service that dies ends the run). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait up to stopTimeoutMs, then SIGKILL. Resolves with how it ended. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }>;
}

/** summary.service: where the self-started service's log is and how it stopped (a clean drain exits 0). */
export interface ServiceReport {
  log: string;
  store: 'mysql' | 'memory';
  exit_code: number | null;
  signal: string | null;
  killed: boolean;
}

/** Stops the service; a stop other than a clean drain is a warning for the summary. */
export async function stopService(svc: ServiceProcess, mysqlUrl: string | undefined): Promise<{ report: ServiceReport; warning?: string }> {
  const how = await svc.stop();
  const report: ServiceReport = {
    log: svc.logFile, store: mysqlUrl ? 'mysql' : 'memory', exit_code: how.code, signal: how.signal, killed: how.killed,
  };
  if (how.code === 0) return { report };
  return {
    report,
    warning: `the service did not stop cleanly (exit ${how.code}, signal ${how.signal}${how.killed ? ', killed after the stop timeout' : ''}); see ${basename(svc.logFile)}`,
  };
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** If the bench itself dies, do not leave a service behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      if (a === null || typeof a === 'string') return rej(new Error('no port'));
      srv.close(() => res(a.port));
    });
  });
}

export async function startService(opts: ServiceOptions): Promise<ServiceProcess> {
  installExitHook();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
  delete env.MYSQL_URL;
  if (opts.mysqlUrl) env.MYSQL_URL = opts.mysqlUrl;
  Object.assign(env, opts.env ?? {});
  const log: WriteStream = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(process.execPath, serviceCommand(), {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      live.delete(child);
      res(exited);
    });
    child.once('error', () => {
      exited = { code: null, signal: null };
      live.delete(child);
      res(exited);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const closeLog = () => new Promise<void>((r) => log.end(r));

  const stop = async () => {
    if (exited) {
      await closeLog();
      return { ...(exited as { code: number | null; signal: NodeJS.Signals | null }), killed: false };
    }
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, opts.stopTimeoutMs ?? 15_000);
    const r = await exitPromise;
    clearTimeout(timer);
    await closeLog();
    return { ...r, killed };
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return { url, pid: child.pid!, logFile: opts.logFile, stop, exited: exitPromise };
      lastProblem = `/readyz answered ${res.status}`;
    } catch (e) {
      lastProblem = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const how = exited
    ? `exited (code ${(exited as { code: number | null }).code}) before it was ready`
    : `was not ready within ${opts.readyTimeoutMs ?? 60_000}ms (${lastProblem})`;
  await stop();
  throw new ServiceStartError(`the service ${how}; last lines of ${opts.logFile}:\n${tail(opts.logFile, 15)}`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
