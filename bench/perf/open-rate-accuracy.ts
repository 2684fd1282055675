// (b) How well the open-model executor holds a target rate. First the autocannon CLI measures the bare
// server's closed-model capacity on this machine (median of --calibration runs); then the open model runs at
// fractions of it, each in a fresh process, and reports achieved/target (goal: within ±1% up to >= 0.8x), the
// dropped count, and latency vs service time (their gap is client-side lateness from the schedule).
// Usage: node --import tsx bench/perf/open-rate-accuracy.ts [--duration 10] [--fractions 0.2,0.4,0.6,0.8,0.9]
//        [--connections 100] [--calibration 3] [--capacity N  (skip calibration)] [--max-in-flight N]
//        [--warmup S  (each child first runs S seconds at the same rate, unmeasured)]
import path from 'node:path';
import type { StageResult } from '../src/types';
import { argList, argValue, load, median, ROOT, runChild, startBareServer } from './perf-support';

const duration = argValue('duration', 10);
const fractions = argList('fractions', [0.2, 0.4, 0.6, 0.8, 0.9]);
const connections = argValue('connections', 100);
const calibration = argValue('calibration', 3);
const PUSH = '/twirp/stats.StatsService/Push';
const BODY = '{"property":"news","section":1,"id":1}';

async function capacity(url: string): Promise<number> {
  const given = process.argv.includes('--capacity') ? argValue('capacity', 1) : 0;
  if (given) return given;
  const rates: number[] = [];
  for (let i = 0; i < calibration; i++) {
    const out = await runChild(path.join(ROOT, 'node_modules', '.bin', 'autocannon'), [
      '-j', '-c', String(connections), '-d', String(duration), '-m', 'POST',
      '-H', 'content-type=application/json', '-b', BODY, url + PUSH,
    ], (duration + 60) * 1000);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { requests: { total: number }; duration: number };
    rates.push(r.requests.total / r.duration);
    process.stdout.write(`calibration ${i + 1}: autocannon -c ${connections} ${rates.at(-1)!.toFixed(0)} req/s (load ${load()})\n`);
  }
  return median(rates);
}

async function main(): Promise<void> {
  const server = await startBareServer();
  process.stdout.write(`# open-model rate accuracy, ${duration} s per rate, bare server pid ${server.pid}; load ${load()}\n`);
  const cap = await capacity(server.url);
  process.stdout.write(`capacity (autocannon closed model, median): ${cap.toFixed(0)} req/s\n`);
  process.stdout.write('fraction  target/s  achieved/s  achieved/target  dropped  errors  lat p50/p99 ms  service p50/p99 ms  load\n');
  for (const f of fractions) {
    const rate = Math.round(cap * f);
    const out = await runChild(process.execPath, [
      '--import', 'tsx', path.join(__dirname, 'stage-child.ts'),
      '--target', server.url, '--model', 'open', '--rate', String(rate), '--duration', String(duration), '--settle', '3',
      ...(process.argv.includes('--max-in-flight') ? ['--max-in-flight', String(argValue('max-in-flight', 1000))] : []),
      ...(process.argv.includes('--warmup') ? ['--warmup', String(argValue('warmup', 3))] : []),
    ], (duration + 60) * 1000);
    const r = JSON.parse(out.trim().split('\n').pop()!) as StageResult;
    const ratio = r.rate.achieved / (r.rate.target ?? rate);
    const st = r.service_time_ms!;
    process.stdout.write(`${f.toFixed(2).padEnd(10)}${String(r.rate.target).padEnd(10)}${r.rate.achieved.toFixed(1).padEnd(12)}` +
      `${ratio.toFixed(4).padEnd(17)}${String(r.counts.dropped).padEnd(9)}${String(r.counts.errors).padEnd(8)}` +
      `${`${r.latency_ms.p50}/${r.latency_ms.p99}`.padEnd(16)}${`${st.p50}/${st.p99}`.padEnd(20)}${load()}` +
      `${Math.abs(ratio - 1) <= 0.01 ? '' : '  (outside ±1%)'}\n`);
  }
  await server.stop();
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
