// The open model second by second against the bare server: arrivals sent, answered, dropped, in flight, the
// client's event-loop delay and CPU. Shows whether misses come from a start-up transient or a steady shortfall.
// Usage: node --import tsx bench/perf/open-timeline.ts [--rate 3000] [--duration 6] [--max-in-flight N]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runOpenStage } from '../src/executors/open';
import type { StageSpec } from '../src/types';
import { argValue, defaultRequest, load, startBareServer } from './perf-support';

async function main(): Promise<void> {
  const rate = argValue('rate', 3000);
  const durationMs = argValue('duration', 6) * 1000;
  const server = await startBareServer();
  const loopDelay = monitorEventLoopDelay({ resolution: 2 });
  loopDelay.enable();
  let lastCpu = process.cpuUsage();
  const stage: StageSpec = {
    name: 'timeline', model: 'open', rate, durationMs, thresholds: [],
    ...(process.argv.includes('--max-in-flight') ? { maxInFlight: argValue('max-in-flight', 1000) } : {}),
  };
  process.stdout.write(`# open model ${rate}/s for ${durationMs / 1000} s; load ${load()}\n`);
  const result = await runOpenStage(stage, {
    target: server.url, request: defaultRequest, runId: 'perf-timeline', signal: new AbortController().signal,
    stage: { index: 0, name: 'timeline', model: 'open', durationMs },
    onTick: (s) => {
      const cpu = process.cpuUsage(lastCpu);
      lastCpu = process.cpuUsage();
      process.stdout.write(`t=${s.elapsedMs}ms sent=${s.counts.sent} answered=${s.counts.completed} dropped=${s.counts.dropped} ` +
        `in_flight=${s.inFlight} loop_delay_p50/max=${(loopDelay.percentile(50) / 1e6).toFixed(1)}/${(loopDelay.max / 1e6).toFixed(1)}ms ` +
        `cpu=${((cpu.user + cpu.system) / 1e4).toFixed(0)}% load ${load()}\n`);
      loopDelay.reset();
    },
  });
  process.stdout.write(`${JSON.stringify({ counts: result.counts, rate: result.rate, latency_ms: result.latency_ms, service_time_ms: result.service_time_ms })}\n`);
  await server.stop();
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
