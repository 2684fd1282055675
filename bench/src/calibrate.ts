// `bench calibrate` (issue 17): how much load can one bench process honestly send on this machine? Against a
// built-in zero-latency target in its own process it measures the closed model's capacity (autocannon
// connections sending back to back), then searches for the open model's: the highest arrival rate whose stage
// is held (achieved within 1% of the target, nothing dropped, no errors, p99 from the intended start below the
// stated floor). A user then knows how much one process or one worker can send before the generator, not the
// service, shapes the figures; beyond it, add workers (distributed runs).
// The runner returns data and emits progress through a callback; the printer returns a string.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import readline from 'node:readline';
import { runClosedStage } from './executors/closed';
import { runOpenStage } from './executors/open';
import { ConnectionCarry } from './executors/connection-set';
import type { StageContext } from './executors/stage-context';
import type { GeneratorStats } from './metrics/generator-watch';
import type { RequestSpec, StageResult, StageSpec } from './types';
import { DEFAULT_TRACE_SAMPLE_RATE, defaultMaxInFlight } from './profiles/limits';

export interface CalibrateOptions {
  /** each probe's length, ms */
  probeMs: number;
  /** the p99 (from the intended start) a held rate must stay below, ms */
  p99FloorMs: number;
  /** closed-model connections */
  connections: number;
  /** open-model probes after the first (a bisection) */
  probes: number;
  /** warm-up before measuring, ms */
  warmupMs: number;
  signal?: AbortSignal;
  /** progress: one line per probe, as it ends */
  onProbe?: (p: Probe) => void;
}

export const CALIBRATE_DEFAULTS: Omit<CalibrateOptions, 'signal' | 'onProbe'> = {
  probeMs: 5000, p99FloorMs: 10, connections: 64, probes: 6, warmupMs: 3000,
};

export interface Probe {
  model: 'open' | 'closed';
  /** open: the target rate; closed: null */
  target: number | null;
  achieved: number;
  dropped: number;
  errors: number;
  p99_ms: number;
  held: boolean;
  generator?: GeneratorStats;
  /** CPU seconds of this process per 100k answers during the probe */
  cpu_s_per_100k: number;
}

export interface Calibration {
  closed_capacity: number;
  connections: number;
  /** the highest open-model rate held, or 0 when none was */
  open_capacity: number;
  p99_floor_ms: number;
  probe_ms: number;
  probes: Probe[];
}

const REQUEST: RequestSpec = {
  properties: ['news'], sections: 1000, ids: 1_000_000, invalidShare: 0, seed: 1, contentType: 'json', timeoutMs: 10_000,
  traceSampleRate: DEFAULT_TRACE_SAMPLE_RATE,
};

export class CalibrateError extends Error {
  readonly code = 'BENCH_CALIBRATE_FAILED';
}

/** Starts the zero-latency target as a child of this process (same loader), resolves with its URL. */
async function startTarget(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...process.execArgv, join(__dirname, 'target', 'zero-latency-server.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new CalibrateError('the zero-latency target did not start within 30 s')), 30_000);
    readline.createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(t);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new CalibrateError(`the zero-latency target exited with ${code}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

export function isHeld(r: StageResult, p99FloorMs: number): boolean {
  const target = r.rate.target ?? 0;
  return target > 0 && r.rate.achieved >= 0.99 * target && r.counts.dropped === 0 && r.counts.errors === 0 && r.latency_ms.p99 < p99FloorMs;
}

export async function calibrate(o: CalibrateOptions): Promise<Calibration> {
  const { url, child } = await startTarget();
  const signal = o.signal ?? new AbortController().signal;
  // the probes of the open model run on one set of connections, as a run's stages do
  const carry = new ConnectionCarry();
  const ctxFor = (s: StageSpec, index: number): StageContext => ({
    target: url, request: REQUEST, runId: 'calibrate', signal, onTick: () => {}, carry,
    stage: { index, name: s.name, model: s.model, durationMs: s.durationMs },
  });
  const probes: Probe[] = [];
  const measure = async (s: StageSpec, index: number): Promise<Probe> => {
    const cpu0 = process.cpuUsage();
    const r = s.model === 'open' ? await runOpenStage(s, ctxFor(s, index)) : await runClosedStage(s, ctxFor(s, index));
    const cpu = process.cpuUsage(cpu0);
    const p: Probe = {
      model: s.model, target: s.model === 'open' ? s.rate ?? 0 : null, achieved: r.rate.achieved, dropped: r.counts.dropped,
      errors: r.counts.errors, p99_ms: r.latency_ms.p99, held: s.model === 'open' ? isHeld(r, o.p99FloorMs) : r.counts.errors === 0,
      cpu_s_per_100k: r.counts.completed > 0 ? Math.round(((cpu.user + cpu.system) / 1e6 / r.counts.completed) * 1e5 * 100) / 100 : 0,
      ...(r.generator ? { generator: r.generator } : {}),
    };
    probes.push(p);
    o.onProbe?.(p);
    return p;
  };
  try {
    const closed = (connections: number, durationMs: number): StageSpec =>
      ({ name: 'calibrate-closed', model: 'closed', connections, durationMs, thresholds: [] });
    const open = (rate: number): StageSpec =>
      ({ name: 'calibrate-open', model: 'open', rate, durationMs: o.probeMs, thresholds: [], maxInFlight: defaultMaxInFlight(rate) });
    // warm-up: both models' code paths compiled, connections open, before anything is measured
    if (o.warmupMs > 0) {
      await runClosedStage(closed(o.connections, o.warmupMs / 2), ctxFor(closed(o.connections, o.warmupMs / 2), -1));
      await runOpenStage(open(1000), ctxFor({ ...open(1000), durationMs: o.warmupMs / 2 }, -1));
    }
    const c = await measure(closed(o.connections, o.probeMs), 0);
    if (c.achieved <= 0) throw new CalibrateError(`the closed model got no answers from the built-in target (${c.errors} errors)`);
    // the open model: first at half the closed capacity, then bisect between the highest rate held and the
    // lowest that was not (the closed capacity bounds it from above, with some room)
    let lo = 0;
    let hi = c.achieved * 1.2;
    let rate = Math.round(c.achieved / 2);
    for (let i = 0; i <= o.probes && !signal.aborted; i++) {
      const p = await measure({ ...open(rate), durationMs: o.probeMs }, i + 1);
      if (p.held) lo = rate; else hi = rate;
      const next = Math.round((lo + hi) / 2);
      if (Math.abs(next - rate) < Math.max(50, c.achieved * 0.01)) break;
      rate = next;
    }
    return {
      closed_capacity: c.achieved, connections: o.connections, open_capacity: lo, p99_floor_ms: o.p99FloorMs, probe_ms: o.probeMs, probes,
    };
  } finally {
    carry.close();
    await stop(child);
  }
}

export function formatProbe(p: Probe): string {
  const what = p.model === 'open' ? `open ${Math.round(p.target ?? 0)} req/s` : 'closed';
  const g = p.generator;
  return `  ${what.padEnd(20)} achieved ${Math.round(p.achieved)} req/s, dropped ${p.dropped}, errors ${p.errors}, p99 ${p.p99_ms} ms, ` +
    `${p.cpu_s_per_100k} CPU s/100k${g ? `, loop busy ${Math.round(g.loop_utilization * 100)}%` : ''}${p.model === 'open' ? (p.held ? '  held' : '  not held') : ''}`;
}

export function formatCalibration(c: Calibration): string {
  const lines = [
    'Calibration of this bench process against a built-in zero-latency target (same machine, own process):',
    ...c.probes.map(formatProbe),
    '',
    `closed model: ${Math.round(c.closed_capacity)} req/s with ${c.connections} connections`,
    c.open_capacity > 0
      ? `open model:   ${Math.round(c.open_capacity)} req/s held (within 1% of the target, nothing dropped, p99 < ${c.p99_floor_ms} ms)` +
        ` = ${Math.round((c.open_capacity / c.closed_capacity) * 100)}% of the closed model's`
      : `open model:   no probed rate was held (p99 < ${c.p99_floor_ms} ms, within 1%, nothing dropped); the machine may be busy`,
    '',
    'One process can honestly send the open-model figure at most; beyond it the generator shapes the latency.',
    'For more load, run workers (distributed runs split the schedule between processes).',
  ];
  return lines.join('\n') + '\n';
}
