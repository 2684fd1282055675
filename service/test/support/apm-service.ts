// Runs the real service as a child process with the APM preload, as production starts it (service/src/launch.ts:
// `node --max-semi-space-size=32 -r ./service/src/telemetry/apm-preload.cjs service/src/start.cjs`). The agent must load first
// and is a process singleton, so tests that need it cannot build the app in their own process.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { APM_PRELOAD, serviceNodeArgs } from '../../src/launch';
import { freePort } from './mariadb';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const PRELOAD = APM_PRELOAD;

export interface ServiceProcess {
  readonly url: string;
  readonly pid: number;
  /** stdout lines so far (the service logs JSON lines; the agent's own log lines too). */
  readonly lines: string[];
  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[];
  /** Resident set size from /proc (bytes). */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startService(env: Record<string, string>, opts: { preload?: boolean } = {}): Promise<ServiceProcess> {
  const port = await freePort();
  const args = serviceNodeArgs({ preload: opts.preload !== false });
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The parent's APM and service settings must not leak into the child.
    if (v !== undefined && !k.startsWith('ELASTIC_APM_') && k !== 'MYSQL_URL' && k !== 'NODE_OPTIONS') childEnv[k] = v;
  }
  Object.assign(childEnv, { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }, env);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    // Bounded: a test never needs more than this many lines.
    for (const p of parts) if (lines.length < 100_000) lines.push(p);
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 64_000) stderr += chunk;
  });
  let hasExited = false;
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      hasExited = true;
      r();
    }),
  );
  child.once('exit', () => running.delete(child));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${stderr}\n${lines.join('\n')}`);
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become ready: ${stderr}\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    pid: child.pid!,
    lines,
    logs() {
      return lines.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
    },
    async rss() {
      const { readFile } = await import('node:fs/promises');
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    },
    async stop() {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One Push as JSON; returns status and body. */
export async function push(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/twirp/stats.StatsService/Push`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}
