// The open model side by side with wrk2 (Gil Tene's constant-rate generator, when a `wrk2` is on PATH), wrk and
// the autocannon CLI, against a server that records its own hold time per request (hold-server.ts: the ground
// truth), in alternating rounds (issue 17). Each generator runs in its own process pinned to one core, the server
// on the other (taskset, when there are 2+ cores), one after another, the order rotating every round.
// - Rates: --rates R,... or --fractions F,... of the bench's own closed-model capacity, measured first (median
//   over --rounds runs of the bench's closed model, --connections connections).
// - Per generator and round: achieved / target, dropped (the bench; wrk2 and autocannon do not drop, they fall
//   behind), p99 as the generator reports it (the bench and wrk2 from the intended start; autocannon corrects for
//   coordinated omission with its own 1 ms assumption; wrk is closed-model and has no rate), the server's own
//   hold-time p99 during that run, and CPU seconds per 100k answers (the bench: its stage only, measured inside
//   it, start-up and warm-up excluded; the others: the whole process, from the shell's `times`).
// - Printed: medians with the min..max over rounds, then the bench's ratios to wrk2 (p99, CPU) per rate.
// Usage: node --import tsx bench/perf/open-vs-wrk2.ts [--fractions 0.2,0.4,0.6,0.8] [--rates 2000] [--duration 10]
//        [--rounds 3] [--latency-ms 0] [--connections 100] [--warmup 3] [--capacity N (skip measuring it)]
//        [--generators bench,wrk2,wrk,autocannon] [--no-pin]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { argList, argValue, load, median, ROOT, stopChild } from './perf-support';

const PUSH = '/twirp/stats.StatsService/Push';
const BODY = '{"property":"news","section":1,"id":1}';
const duration = argValue('duration', 10);
const rounds = argValue('rounds', 3);
const connections = argValue('connections', 100);
const warmup = process.argv.includes('--warmup') ? argValue('warmup', 3) : 3;
const latencyMs = process.argv.includes('--latency-ms') ? Number(process.argv[process.argv.indexOf('--latency-ms') + 1]) : 0;
const genArg = process.argv.indexOf('--generators');
const wanted = genArg === -1 ? ['bench', 'wrk2', 'wrk', 'autocannon'] : process.argv[genArg + 1]!.split(',');
const pin = !process.argv.includes('--no-pin') && os.cpus().length >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

interface Run {
  generator: string;
  target: number | null;
  achieved: number;
  dropped: number | null;
  p99: number;
  serverP99: number;
  cpuPer100k: number;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const pinned = (core: number, cmd: string, args: string[]): [string, string[]] => (pin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

async function startHoldServer(): Promise<{ url: string; child: ChildProcess }> {
  const [cmd, args] = pinned(1, process.execPath, ['--import', 'tsx', path.join(__dirname, 'hold-server.ts'), '--latency-ms', String(latencyMs)]);
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('hold server did not start within 30 s')), 30_000);
    readline.createInterface({ input: child.stdout! }).once('line', (l) => { clearTimeout(t); resolve((JSON.parse(l) as { port: number }).port); });
    child.once('exit', (c) => reject(new Error(`hold server exited with ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

async function hold(url: string): Promise<{ count: number; p99_ms: number }> {
  return (await fetch(`${url}/__hold`)).json() as Promise<{ count: number; p99_ms: number }>;
}

/** Runs `cmd` pinned to core 0 under sh, bounded; returns stdout and the process's CPU seconds (children's `times`). */
async function timed(cmd: string, args: string[], timeoutS: number): Promise<{ out: string; cpu: number }> {
  const [c, a] = pinned(0, cmd, args);
  const quoted = [c, ...a].map((x) => `'${x.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('sh', ['-c', `${quoted}; code=$?; times >&2; exit $code`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { err += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(killer);
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${err.slice(-1500)}`);
  // `times`: the shell's user/sys, then its children's (the generator's)
  const lines = err.trim().split('\n');
  const children = lines[lines.length - 1]!.trim().split(/\s+/);
  const sec = (s: string) => { const m = /^(\d+)m([\d.]+)s$/.exec(s); return m ? Number(m[1]) * 60 + Number(m[2]) : Number.NaN; };
  return { out, cpu: sec(children[0]!) + sec(children[1]!) };
}

/** wrk's and wrk2's latency distribution lines in ms: wrk2 prints "  99.000%   12.34ms", wrk "     99%   12.34ms". */
function wrkPercentile(out: string, whole: number): number {
  const m = new RegExp(`^\\s*${whole}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m)\\b`, 'm').exec(out);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

function wrkRequests(out: string): number {
  const m = /(\d+) requests in ([\d.]+)(s|m)/.exec(out);
  return m ? Number(m[1]) : Number.NaN;
}

function luaScript(dir: string): string {
  const file = path.join(dir, 'post.lua');
  writeFileSync(file, `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  return file;
}

async function runBench(url: string, rate: number | null): Promise<Run> {
  const args = ['--import', 'tsx', path.join(__dirname, 'stage-child.ts'), '--target', url, '--duration', String(duration), '--settle', '1',
    ...(rate === null ? ['--model', 'closed', '--connections', String(connections)] : ['--model', 'open', '--rate', String(rate)]),
    ...(warmup > 0 ? ['--warmup', String(warmup)] : [])];
  const { out } = await timed(process.execPath, args, duration + warmup + 90);
  const r = JSON.parse(out.trim().split('\n').pop()!) as {
    rate: { achieved: number }; counts: { dropped: number; completed: number }; latency_ms: { p99: number }; cpu_s: number;
  };
  const h = await hold(url);
  return {
    generator: rate === null ? 'bench closed' : 'bench', target: rate, achieved: r.rate.achieved, dropped: r.counts.dropped,
    p99: r.latency_ms.p99, serverP99: h.p99_ms, cpuPer100k: (r.cpu_s / Math.max(1, r.counts.completed)) * 1e5,
  };
}

async function runWrk(kind: 'wrk' | 'wrk2', url: string, rate: number, script: string): Promise<Run> {
  await hold(url); // reset
  const total = duration + (kind === 'wrk2' ? warmup : 0);
  const args = ['-t1', `-c${connections}`, `-d${total}s`, '--latency', '-s', script, ...(kind === 'wrk2' ? [`-R${rate}`] : []), url + PUSH];
  const { out, cpu } = await timed(kind, args, total + 60);
  const h = await hold(url);
  const n = wrkRequests(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  return {
    generator: kind, target: kind === 'wrk2' ? rate : null, achieved: rps ? Number(rps[1]) : Number.NaN, dropped: null,
    p99: wrkPercentile(out, 99), serverP99: h.p99_ms, cpuPer100k: (cpu / Math.max(1, n)) * 1e5,
  };
}

async function runAutocannon(url: string, rate: number): Promise<Run> {
  await hold(url);
  const bin = path.join(ROOT, 'node_modules', '.bin', 'autocannon');
  const args = ['-j', '-c', String(connections), '-d', String(duration), '-R', String(rate), '-m', 'POST',
    '-H', 'content-type=application/json', '-b', BODY, url + PUSH];
  const { out, cpu } = await timed(bin, args, duration + 60);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { requests: { total: number }; duration: number; latency: { p99: number } };
  const h = await hold(url);
  return {
    generator: 'autocannon', target: rate, achieved: r.requests.total / r.duration, dropped: null, p99: r.latency.p99,
    serverP99: h.p99_ms, cpuPer100k: (cpu / Math.max(1, r.requests.total)) * 1e5,
  };
}

const spread = (xs: number[]): string => {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return '-';
  const f = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
  return `${f(median(ok))} (${f(Math.min(...ok))}..${f(Math.max(...ok))})`;
};

async function main(): Promise<void> {
  const server = await startHoldServer();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'open-vs-wrk2-'));
  const script = luaScript(tmp);
  const have = (g: string) => (g === 'bench' || g === 'autocannon' ? true : onPath(g));
  const gens = wanted.filter((g) => {
    if (have(g)) return true;
    process.stdout.write(`# ${g} is not on PATH: left out${g === 'wrk2' ? ' (the project does not build or ship it; put a wrk2 binary on PATH to compare)' : ''}\n`);
    return false;
  });
  process.stdout.write(`# open model vs ${gens.filter((g) => g !== 'bench').join(', ') || 'nothing'}; server latency ${latencyMs} ms (hold-server pid ${server.child.pid}); ` +
    `${duration} s per run, ${rounds} round(s), ${connections} connections, warm-up ${warmup} s; ${pin ? 'generators on core 0, server on core 1' : 'not pinned'}; load ${load()}\n`);

  let rates = argList('rates', []);
  if (rates.length === 0) {
    const cap = process.argv.includes('--capacity') ? argValue('capacity', 1) : 0;
    let capacity = cap;
    if (!capacity) {
      const caps: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const r = await runBench(server.url, null);
        caps.push(r.achieved);
        process.stdout.write(`capacity round ${i + 1}: bench closed model ${r.achieved.toFixed(0)} req/s, ${r.cpuPer100k.toFixed(2)} CPU s/100k (load ${load()})\n`);
      }
      capacity = median(caps);
    }
    const fractions = argList('fractions', [0.2, 0.4, 0.6, 0.8]);
    rates = fractions.map((f) => Math.round(capacity * f));
    process.stdout.write(`capacity (bench closed model, median): ${capacity.toFixed(0)} req/s; rates ${rates.join(', ')}\n`);
  }

  const results = new Map<string, Run[]>();
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      // rotate the order every round, so no generator always runs first (or right after another one)
      const order = gens.map((_, i) => gens[(i + round) % gens.length]!);
      for (const g of order) {
        const run = g === 'bench' ? await runBench(server.url, rate)
          : g === 'autocannon' ? await runAutocannon(server.url, rate)
          : await runWrk(g as 'wrk' | 'wrk2', server.url, rate, script);
        const key = `${rate}|${g}`;
        results.set(key, [...(results.get(key) ?? []), run]);
        process.stdout.write(`round ${round + 1} rate ${rate} ${g.padEnd(10)} achieved ${run.achieved.toFixed(0)} dropped ${run.dropped ?? '-'} ` +
          `p99 ${run.p99} ms server p99 ${run.serverP99} ms cpu ${run.cpuPer100k.toFixed(2)} s/100k (load ${load()})\n`);
      }
    }
  }

  process.stdout.write('\nmedian (min..max) over rounds\n');
  process.stdout.write('rate      generator   achieved/target      dropped          p99 ms               server hold p99 ms   CPU s/100k\n');
  for (const rate of rates) {
    for (const g of gens) {
      const rs = results.get(`${rate}|${g}`) ?? [];
      const ratio = rs.map((r) => (r.target ? r.achieved / r.target : Number.NaN));
      process.stdout.write(`${String(rate).padEnd(10)}${g.padEnd(12)}${spread(ratio).padEnd(21)}${spread(rs.map((r) => r.dropped ?? Number.NaN)).padEnd(17)}` +
        `${spread(rs.map((r) => r.p99)).padEnd(21)}${spread(rs.map((r) => r.serverP99)).padEnd(21)}${spread(rs.map((r) => r.cpuPer100k))}\n`);
    }
    const b = results.get(`${rate}|bench`);
    const w = results.get(`${rate}|wrk2`);
    if (b && w) {
      // ratios within each round (the two ran back to back), then their spread
      const n = Math.min(b.length, w.length);
      const p99 = Array.from({ length: n }, (_, i) => b[i]!.p99 / w[i]!.p99);
      const cpu = Array.from({ length: n }, (_, i) => b[i]!.cpuPer100k / w[i]!.cpuPer100k);
      process.stdout.write(`${''.padEnd(10)}bench/wrk2  p99 ${spread(p99)}, CPU per request ${spread(cpu)}\n`);
    }
  }
  await stopChild(server.child);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
