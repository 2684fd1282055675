// Helpers shared by the benchmark scripts: a bare server in its own process, bounded child runs, stats.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { RequestSpec } from '../src/types';
import { DEFAULT_REQUEST } from '../src/profiles/validate';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface BareServer {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
// Never leave a child behind, however the script ends.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => process.exit(130));
}

export async function startBareServer(): Promise<BareServer> {
  // the same zero-latency target `bench calibrate` uses; it exits when its stdin (our pipe) closes
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'src', 'target', 'zero-latency-server.ts')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('bare server did not start within 30 s')), 30_000);
    const rl = readline.createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(t);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
  children.delete(child);
}

/** Runs a command to completion (bounded by `timeoutMs`), returning its stdout. */
export async function runChild(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(t);
  children.delete(child);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`);
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

export function argList(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = (process.argv[i + 1] ?? '').split(',').map(Number);
  if (v.length === 0 || v.some((x) => !Number.isFinite(x) || x <= 0)) throw new Error(`--${name} must be a comma-separated list of positive numbers`);
  return v;
}

/** Load average, to report how noisy the machine was. */
export function load(): string {
  const os = require('node:os') as typeof import('node:os');
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

export const defaultRequest: RequestSpec = { ...DEFAULT_REQUEST, properties: ['news', 'sport', 'weather', 'tech', 'culture'] };
