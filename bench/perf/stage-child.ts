// Runs one stage in a fresh process and prints its StageResult as JSON (benchmarks compare processes, not
// warm in-process loops). Usage:
//   node --import tsx bench/perf/stage-child.ts --target URL --model closed --connections 100 --duration 10
//   node --import tsx bench/perf/stage-child.ts --target URL --model open --rate 5000 --duration 10 [--max-in-flight N]
//   [--settle S]: seconds to sleep between start-up and the stage (default 0). Start-up compiles TypeScript (about
//   a second of CPU); on a busy machine the kernel's fair scheduler then holds this process back until the others
//   have had as much CPU, which would count against the stage. A short sleep lets that even out first.
//   [--warmup S]: run the same stage for S seconds first and discard its result (JIT-compiled code and open
//   connections, as any stage after the first of a run has them).
import { runClosedStage } from '../src/executors/closed';
import { runOpenStage } from '../src/executors/open';
import { ConnectionCarry } from '../src/executors/connection-set';
import type { StageSpec } from '../src/types';
import type { StageContext } from '../src/executors/stage-context';
import { argValue, defaultRequest } from './perf-support';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};

async function main(): Promise<void> {
  const target = arg('target');
  const model = arg('model');
  if (!target || (model !== 'closed' && model !== 'open')) throw new Error('need --target URL and --model closed|open');
  const durationMs = argValue('duration', 10) * 1000;
  const stage: StageSpec = model === 'closed'
    ? { name: 'bench', model, durationMs, connections: argValue('connections', 100), thresholds: [] }
    : { name: 'bench', model, durationMs, rate: argValue('rate', 1000), thresholds: [],
        ...(arg('max-in-flight') ? { maxInFlight: argValue('max-in-flight', 1000) } : {}) };
  // the warm-up's connections carry on into the stage, as in a run (connection-set.ts)
  const ctx: StageContext = {
    target, request: defaultRequest, runId: 'perf', signal: new AbortController().signal, carry: new ConnectionCarry(),
    stage: { index: 0, name: 'bench', model, durationMs }, onTick: () => {},
  };
  const settle = process.argv.includes('--settle') ? argValue('settle', 3) : 0;
  if (settle > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(settle, 60) * 1000));
  const warmup = process.argv.includes('--warmup') ? Math.min(argValue('warmup', 3), 60) * 1000 : 0;
  if (warmup > 0) {
    const w: StageSpec = { ...stage, name: 'warmup', durationMs: warmup };
    const wctx: StageContext = { ...ctx, stage: { ...ctx.stage, name: 'warmup', durationMs: warmup } };
    await (model === 'closed' ? runClosedStage(w, wctx) : runOpenStage(w, wctx));
  }
  const cpu0 = process.cpuUsage();
  const result = model === 'closed' ? await runClosedStage(stage, ctx) : await runOpenStage(stage, ctx);
  const cpu = process.cpuUsage(cpu0);
  ctx.carry!.close();
  // the stage's own CPU (user + system, all threads), start-up and warm-up excluded
  process.stdout.write(`${JSON.stringify({ ...result, cpu_s: (cpu.user + cpu.system) / 1e6, cpu_user_s: cpu.user / 1e6 })}\n`);
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
