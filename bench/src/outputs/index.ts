// Outputs are isolated from the run and from each other: one that throws is switched off (with a warning) and
// the rest carry on; `start` and `stop` are bounded, so one that hangs cannot stall the run's end. The runner
// only ever talks to an OutputSet. `stop` is where a summary is finished: the other outputs stop first, their
// failures join summary.warnings, and only then do the outputs that write the summary get it (written once).
import type { BenchEvent, Output, RunInfo, Summary } from '../types';

export interface OutputSetOptions {
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Called once per output failure; the CLI logs it. Must not throw. */
  onWarning?: (w: { output: string; phase: 'start' | 'add' | 'stop'; message: string }) => void;
}

export class OutputSet {
  private readonly live: Output[];
  readonly warnings: string[] = [];

  constructor(outputs: Output[], private readonly opts: OutputSetOptions = {}) {
    this.live = [...outputs];
  }

  get names(): string[] {
    return this.live.map((o) => o.name);
  }

  async start(run: RunInfo): Promise<void> {
    await Promise.all(
      [...this.live].map(async (o) => {
        const r = await bounded(() => o.start(run), this.opts.startTimeoutMs ?? 10_000);
        if (r !== null) this.fail(o, 'start', r);
      }),
    );
  }

  add(event: BenchEvent): void {
    for (const o of [...this.live]) {
      try {
        o.add(event);
      } catch (e) {
        this.fail(o, 'add', (e as Error)?.message ?? String(e));
      }
    }
  }

  async stop(summary: Summary & { warnings: string[] }): Promise<void> {
    const stopAll = (outputs: Output[]) => Promise.all(
      outputs.map(async (o) => {
        let reported: void | string[] = undefined;
        const r = await bounded(async () => { reported = await o.stop(summary); }, this.opts.stopTimeoutMs ?? 15_000);
        if (r !== null) this.fail(o, 'stop', r);
        for (const p of (reported as void | string[]) ?? []) this.warnings.push(`output ${o.name}: ${p}`);
      }),
    );
    await stopAll(this.live.filter((o) => !o.writesSummary));
    summary.warnings.push(...this.warnings.filter((w) => !summary.warnings.includes(w)));
    await stopAll(this.live.filter((o) => o.writesSummary));
  }

  private fail(o: Output, phase: 'start' | 'add' | 'stop', message: string): void {
    const i = this.live.indexOf(o);
    if (i >= 0) this.live.splice(i, 1);
    const w = `output ${o.name} failed in ${phase} and was switched off: ${message}`;
    this.warnings.push(w);
    try {
      this.opts.onWarning?.({ output: o.name, phase, message });
    } catch {
      // a warning sink that throws must not break the run either
    }
  }
}

/** Runs fn with a time limit; resolves null on success, or a message on error or timeout. */
async function bounded(fn: () => Promise<void>, ms: number): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<string>((res) => {
      timer = setTimeout(() => res(`did not finish within ${ms}ms`), ms);
      timer.unref();
    });
    const work = (async () => {
      await fn();
      return null;
    })().catch((e: unknown) => (e as Error)?.message ?? String(e));
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
