// Memory over a long open-model stage: RSS and heap (after a GC when run with --expose-gc) sampled every 30 s.
// Usage: node --expose-gc --import tsx bench/perf/soak-memory.ts [MINUTES=10] [--rate 1000] [--every 30]
// Flat means: the last samples are within noise of the first ones after warm-up (the executor keeps only
// fixed-size histograms, small maps and a bounded in-flight list, whatever the number of requests).
import { runOpenStage } from '../src/executors/open';
import type { StageSpec } from '../src/types';
import { argValue, defaultRequest, load, startBareServer } from './perf-support';

const minutes = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 10);
if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('MINUTES must be in (0, 1440]');
const rate = argValue('rate', 1000);
// --every S: seconds between samples (default 30)
const SAMPLE_MS = (process.argv.includes('--every') ? argValue('every', 30) : 30) * 1000;

interface Sample { t_s: number; rss_mb: number; heap_used_mb: number; heap_total_mb: number; external_mb: number; sent: number; achieved: number }

async function main(): Promise<void> {
  const server = await startBareServer();
  const samples: Sample[] = [];
  let last = { sent: 0, achieved: 0 };
  const t0 = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  const sample = (): void => {
    gc?.();
    const m = process.memoryUsage();
    const s: Sample = {
      t_s: Math.round((performance.now() - t0) / 1000),
      rss_mb: round(m.rss / 2 ** 20), heap_used_mb: round(m.heapUsed / 2 ** 20), heap_total_mb: round(m.heapTotal / 2 ** 20),
      external_mb: round(m.external / 2 ** 20), sent: last.sent, achieved: last.achieved,
    };
    samples.push(s);
    process.stdout.write(`${JSON.stringify(s)}\n`);
  };
  process.stdout.write(`# soak: open model ${rate}/s for ${minutes} min against a bare server; gc before samples: ${gc ? 'yes' : 'no'}; load ${load()}\n`);
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  const stage: StageSpec = { name: 'soak', model: 'open', rate, durationMs: minutes * 60_000, thresholds: [] };
  const result = await runOpenStage(stage, {
    target: server.url, request: defaultRequest, runId: 'perf-soak', signal: new AbortController().signal,
    stage: { index: 0, name: 'soak', model: 'open', durationMs: stage.durationMs },
    onTick: (snap) => { last = { sent: snap.counts.sent, achieved: snap.achievedRate }; },
  });
  clearInterval(timer);
  sample();
  await server.stop();
  const warm = samples.find((s) => s.t_s >= 60) ?? samples[0];
  const end = samples[samples.length - 1];
  process.stdout.write(`# result: sent ${result.counts.sent}, ok ${result.counts.ok}, dropped ${result.counts.dropped}, ` +
    `achieved ${result.rate.achieved}/s of ${result.rate.target}/s, p99 ${result.latency_ms.p99} ms\n`);
  process.stdout.write(`# memory from t=${warm.t_s}s to t=${end.t_s}s: rss ${warm.rss_mb} -> ${end.rss_mb} MB ` +
    `(${signed(end.rss_mb - warm.rss_mb)}), heapUsed ${warm.heap_used_mb} -> ${end.heap_used_mb} MB (${signed(end.heap_used_mb - warm.heap_used_mb)}); load ${load()}\n`);
}

function round(x: number): number { return Math.round(x * 10) / 10; }
function signed(x: number): string { return `${x >= 0 ? '+' : ''}${round(x)} MB`; }

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
