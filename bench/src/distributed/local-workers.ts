// `--workers N` on one machine: N worker processes of the bench CLI itself (`--worker ws://127.0.0.1:PORT`), each
// on its own event loop and so on its own core, told their index by environment (as an Indexed Job's pods are
// by JOB_COMPLETION_INDEX). Their log lines go to worker-<k>.log in the run folder. Bounded: stop() asks with
// SIGTERM, then kills after a grace.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';

const CLI = resolve(__dirname, '..', 'cli.ts');
const ROOT = resolve(__dirname, '..', '..', '..');

export interface LocalWorker {
  index: number;
  pid: number;
  log: string;
  /** set once it exited */
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  child: ChildProcess;
}

export interface LocalWorkersOptions {
  count: number;
  url: string;
  dir: string;
  connectTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** extra node arguments for each worker (e.g. --max-semi-space-size) */
  nodeArgs?: string[];
}

export class LocalWorkers {
  readonly workers: LocalWorker[] = [];

  constructor(o: LocalWorkersOptions) {
    for (let index = 0; index < o.count; index++) {
      const log = join(o.dir, `worker-${index}.log`);
      const fd = openSync(log, 'w');
      const child = spawn(process.execPath, [
        ...(o.nodeArgs ?? []), '--import', 'tsx', CLI, '--worker', o.url, '--connect-timeout', `${Math.ceil(o.connectTimeoutMs / 1000)}s`,
      ], {
        cwd: ROOT,
        env: { ...process.env, ...o.env, BENCH_WORKER_INDEX: String(index), BENCH_HOST: `local-${index}` },
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      const w: LocalWorker = { index, pid: child.pid ?? -1, log, exit: null, child };
      child.on('exit', (code, signal) => { w.exit = { code, signal }; });
      child.on('error', () => { w.exit ??= { code: null, signal: null }; });
      this.workers.push(w);
    }
  }

  /** Waits up to `graceMs` for every worker to exit on its own (after `done`), then SIGTERM, then SIGKILL. */
  async stop(graceMs = 5_000): Promise<void> {
    const exited = (w: LocalWorker) => w.exit !== null ? Promise.resolve() : new Promise<void>((r) => w.child.once('exit', () => r()));
    const within = (ms: number) => Promise.race([Promise.all(this.workers.map(exited)), new Promise((r) => setTimeout(r, ms).unref())]);
    await within(graceMs);
    for (const w of this.workers) if (w.exit === null) w.child.kill('SIGTERM');
    await within(graceMs);
    for (const w of this.workers) if (w.exit === null) w.child.kill('SIGKILL');
    await within(1_000);
  }
}
