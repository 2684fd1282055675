// (a) The bench's closed-model stage against the autocannon CLI: same bare server, same connections, same
// duration, same kind of request (a POST with a Push JSON body), alternating which goes first each round.
// Prints every run and the ratio of median requests/s (bench / CLI); the goal is >= 0.95.
// Usage: node --import tsx bench/perf/closed-vs-autocannon.ts [--connections 100] [--duration 10] [--rounds 5]
//        [--settle 3  (seconds the bench process sleeps after start-up, before its stage)]
import path from 'node:path';
import type { StageResult } from '../src/types';
import { argValue, load, median, ROOT, runChild, startBareServer } from './perf-support';

const connections = argValue('connections', 100);
const duration = argValue('duration', 10);
const rounds = argValue('rounds', 5);
const settle = process.argv.includes('--settle') ? argValue('settle', 3) : 3;
const PUSH = '/twirp/stats.StatsService/Push';
// the same headers and body size the bench sends (its trace ids and keys vary per request; these are fixed)
const BODY = '{"property":"weather","section":512,"id":123456}';
const HEADERS = [
  'content-type=application/json', 'x-bench-run=perf', 'x-bench-stage=bench',
  'traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
];

async function cli(url: string): Promise<number> {
  const out = await runChild(path.join(ROOT, 'node_modules', '.bin', 'autocannon'), [
    '-j', '-c', String(connections), '-d', String(duration), '-m', 'POST',
    ...HEADERS.flatMap((h) => ['-H', h]), '-b', BODY, url + PUSH,
  ], (duration + 60) * 1000);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { requests: { total: number }; duration: number; errors: number; non2xx: number };
  if (r.errors > 0 || r.non2xx > 0) process.stdout.write(`#   cli: ${r.errors} errors, ${r.non2xx} non-2xx\n`);
  return r.requests.total / r.duration;
}

async function bench(url: string): Promise<number> {
  const out = await runChild(process.execPath, [
    '--import', 'tsx', path.join(__dirname, 'stage-child.ts'),
    '--target', url, '--model', 'closed', '--connections', String(connections), '--duration', String(duration),
    // let the TypeScript compile burst even out before the stage (see stage-child.ts); the CLI needs none
    '--settle', String(settle),
  ], (duration + 60) * 1000);
  const r = JSON.parse(out.trim().split('\n').pop()!) as StageResult;
  if (r.counts.errors > 0) process.stdout.write(`#   bench: ${r.counts.errors} errors\n`);
  return r.counts.completed / (r.duration_ms / 1000);
}

async function main(): Promise<void> {
  const server = await startBareServer();
  process.stdout.write(`# closed model vs autocannon CLI: ${connections} connections, ${duration} s, ${rounds} rounds, settle ${settle} s, bare server pid ${server.pid}; load ${load()}\n`);
  const cliRates: number[] = [];
  const benchRates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? ['cli', 'bench'] : ['bench', 'cli'];
    for (const which of order) {
      const rate = which === 'cli' ? await cli(server.url) : await bench(server.url);
      (which === 'cli' ? cliRates : benchRates).push(rate);
      process.stdout.write(`round ${i + 1} ${which.padEnd(5)} ${rate.toFixed(0)} req/s  (load ${load()})\n`);
    }
  }
  await server.stop();
  const ratio = median(benchRates) / median(cliRates);
  const pairs = benchRates.map((b, i) => b / cliRates[i]);
  process.stdout.write(`median cli ${median(cliRates).toFixed(0)} req/s, median bench ${median(benchRates).toFixed(0)} req/s\n`);
  process.stdout.write(`ratio bench/cli (medians) ${ratio.toFixed(3)}; per round ${pairs.map((p) => p.toFixed(3)).join(' ')} ` +
    `(median of per-round ratios ${median(pairs).toFixed(3)}); goal >= 0.95: ${ratio >= 0.95 ? 'met' : 'NOT met'}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
