// What a distributed run costs, side by side in one run against the zero-latency server (bench/src/target/zero-latency-server.ts):
//   (a) the bench's CPU per request with --workers 2 vs one process, same closed profile (goal <= 1.1x);
//   (b) the coordinator's own CPU with 4 workers (goal < 5% of a core);
//   (c) the open model's achieved / target with 2 workers at 0.7 (--fraction) of their combined capacity, the
//       capacity being what (a) measured for 2 workers (--capacity N to give it), next to one process at the same
//       target in the same rounds (goal within 1%).
// CPU is read from /proc/<pid>/stat (utime + stime) of the bench CLI and each of its worker processes, sampled
// every 100 ms, and interpolated at the measured stage's start and end (summary.json's started_at/ended_at),
// so process start-up (tsx compiling) and shut-down are not counted. Rounds alternate (one, two, one, two...).
// Usage: node --import tsx bench/perf/distributed-overhead.ts [--rounds 3] [--duration 8] [--connections 16]
//        [--fraction 0.7] [--capacity N] [--only a,b,c] [--split 2]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { StageResult } from '../src/types';
import { argValue, load, median, ROOT, startBareServer } from './perf-support';

const rounds = argValue('rounds', 3);
const duration = argValue('duration', 8);
const connections = argValue('connections', 16);
const fraction = argValue('fraction', 0.7);
/** (a) compares one process with --workers <split> (1 shows what the coordinator and the worker protocol cost alone) */
const split = argValue('split', 2);
const onlyArg = process.argv.indexOf('--only');
const only = new Set(onlyArg === -1 ? ['a', 'b', 'c'] : (process.argv[onlyArg + 1] ?? '').split(','));
const TICK_S = 100 / 1000;
const CLK_TCK = 100; // USER_HZ: /proc times are in 1/100 s on Linux

interface Sample { t: number; cpu: Map<number, number> }

/** utime + stime of pid in seconds, or null when it is gone. */
function cpuOf(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

interface RunOut { stage: StageResult; summary: Record<string, unknown>; benchCpuS: number; coordinatorCpuS: number; seconds: number }

/** Runs the CLI; returns the measured (last) stage and the CPU used during it. */
async function runBench(args: string[], dir: string): Promise<RunOut> {
  const out = mkdtempSync(path.join(dir, 'run-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', ...args, '--out', out, '--quiet', '--no-scrape'], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const samples: Sample[] = [];
  const known = new Set<number>([child.pid!]);
  const timer = setInterval(() => {
    for (const p of childrenOf(child.pid!)) known.add(p);
    const cpu = new Map<number, number>();
    for (const p of known) {
      const c = cpuOf(p);
      if (c !== null) cpu.set(p, c);
    }
    samples.push({ t: Date.now(), cpu });
  }, TICK_S * 1000);
  const guard = setTimeout(() => child.kill('SIGKILL'), (duration * 2 + 120) * 1000);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearInterval(timer);
  clearTimeout(guard);
  if (code !== 0) throw new Error(`bench ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { stages: StageResult[] } & Record<string, unknown>;
  const stage = summary.stages.at(-1)!;
  const t0 = Date.parse(stage.started_at);
  const t1 = Date.parse(stage.ended_at);
  // CPU of one process at time t, linearly between the samples around it (a process seen later had 0 before)
  const at = (pid: number, t: number): number => {
    let prev: Sample | null = null;
    for (const s of samples) {
      if (s.t >= t) {
        const b = s.cpu.get(pid);
        const a = prev?.cpu.get(pid);
        if (b === undefined) return a ?? 0;
        if (a === undefined || !prev) return b;
        return a + ((b - a) * (t - prev.t)) / Math.max(1, s.t - prev.t);
      }
      prev = s;
    }
    return prev?.cpu.get(pid) ?? 0;
  };
  let bench = 0;
  for (const p of known) bench += at(p, t1) - at(p, t0);
  const coordinator = at(child.pid!, t1) - at(child.pid!, t0);
  rmSync(out, { recursive: true, force: true });
  return { stage, summary, benchCpuS: bench, coordinatorCpuS: coordinator, seconds: (t1 - t0) / 1000 };
}

function spread(xs: number[], digits = 2): string {
  return `median ${median(xs).toFixed(digits)} (min ${Math.min(...xs).toFixed(digits)}, max ${Math.max(...xs).toFixed(digits)})`;
}

async function main(): Promise<void> {
  const server = await startBareServer();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-dist-perf-'));
  const closed = path.join(dir, 'closed.yaml');
  // a short warm-up stage (JIT, connections), then the measured stage
  writeFileSync(closed, `request: { properties: [news], seed: 1, timeout: 10s }\nstages:\n  - { name: warm, duration: 2s, connections: ${connections} }\n  - { name: measured, duration: ${duration}s, connections: ${connections} }\n`);
  process.stdout.write(`# distributed overhead: bare server pid ${server.pid}, ${rounds} rounds, ${duration} s measured stage, ${connections} connections; load ${load()}\n`);
  process.stdout.write('round  variant     req/s    bench CPU s  CPU us/req  coordinator CPU %core  load\n');
  const perReq: Record<string, number[]> = { one: [], two: [] };
  const rate2: number[] = [];
  const ratios: number[] = [];
  for (let r = 1; r <= (only.has('a') ? rounds : 0); r++) {
    const row: Record<string, number> = {};
    for (const v of ['one', 'two'] as const) {
      const res = await runBench(['--profile', closed, '--target', server.url, ...(v === 'two' ? ['--workers', String(split)] : [])], dir);
      const us = (res.benchCpuS * 1e6) / Math.max(1, res.stage.counts.completed);
      row[v] = us;
      perReq[v]!.push(us);
      if (v === 'two') rate2.push(res.stage.rate.achieved);
      const coord = v === 'two' ? `${((res.coordinatorCpuS / res.seconds) * 100).toFixed(2).padStart(8)}` : '       -';
      process.stdout.write(`${String(r).padStart(5)}  ${v === 'one' ? '1 process' : `--workers ${split}`}  ${res.stage.rate.achieved.toFixed(0).padStart(7)}  ${res.benchCpuS.toFixed(2).padStart(11)}  ${us.toFixed(1).padStart(10)}  ${coord.padStart(21)}  ${load()}\n`);
    }
    ratios.push(row.two! / row.one!);
  }
  if (only.has('a')) {
    process.stdout.write(`(a) CPU per request, --workers ${split} / one process: ${spread(ratios, 3)}   (goal <= 1.1)\n`);
    process.stdout.write(`    one process ${spread(perReq.one!, 1)} us/req; --workers ${split} ${spread(perReq.two!, 1)} us/req\n`);
  }

  // (b) the coordinator's own CPU with 4 workers
  const coord: number[] = [];
  for (let r = 1; r <= (only.has('b') ? rounds : 0); r++) {
    const res = await runBench(['--profile', closed, '--target', server.url, '--workers', '4'], dir);
    const pct = (res.coordinatorCpuS / res.seconds) * 100;
    coord.push(pct);
    process.stdout.write(`(b) round ${r}: --workers 4, ${res.stage.rate.achieved.toFixed(0)} req/s, coordinator ${pct.toFixed(2)}% of a core, all bench processes ${((res.benchCpuS / res.seconds) * 100).toFixed(0)}%; load ${load()}\n`);
  }
  if (only.has('b')) process.stdout.write(`(b) coordinator CPU at 4 workers: ${spread(coord, 2)} % of a core   (goal < 5)\n`);
  if (!only.has('c')) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    return;
  }

  // (c) the open model on 2 workers at 0.7 of their combined capacity, and one process at the same target
  const given = process.argv.includes('--capacity') ? argValue('capacity', 1) : 0;
  const capacity = given || median(rate2);
  if (!(capacity > 0)) throw new Error('(c) needs the capacity: run (a) too, or pass --capacity N');
  const target = Math.round(capacity * fraction);
  const open = path.join(dir, 'open.yaml');
  writeFileSync(open, `request: { properties: [news], seed: 1, timeout: 10s }\nstages:\n  - { name: warm, duration: 2s, rate: ${Math.round(target / 4)} }\n  - { name: measured, duration: ${duration}s, rate: ${target} }\n`);
  const acc: Record<string, number[]> = { one: [], two: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const v of ['two', 'one'] as const) {
      const res = await runBench(['--profile', open, '--target', server.url, ...(v === 'two' ? ['--workers', '2'] : [])], dir);
      const ratio = res.stage.rate.achieved / target;
      acc[v]!.push(ratio);
      process.stdout.write(`(c) round ${r}, ${v === 'two' ? '--workers 2' : '1 process  '}: target ${target} req/s, achieved ${res.stage.rate.achieved.toFixed(1)} (${ratio.toFixed(4)}), dropped ${res.stage.counts.dropped}, errors ${res.stage.counts.errors}, latency p99 ${res.stage.latency_ms.p99} ms (service p99 ${res.stage.service_time_ms?.p99} ms); load ${load()}\n`);
    }
  }
  process.stdout.write(`(c) open model at ${fraction} x ${capacity.toFixed(0)} req/s (2 workers' closed-model rate): achieved/target with --workers 2 ${spread(acc.two!, 4)}; one process ${spread(acc.one!, 4)}   (goal within 0.99..1.01)\n`);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
