// The bench's own memory over a run (summary.bench_memory), to show it stays flat however long the run: a bounded
// list of samples that thins out and slows down past its cap.

/** Samples process memory every `everyMs`; past `max` samples it keeps every other one and doubles the step. */
export class MemorySampler {
  readonly samples: { t_s: number; rss_mb: number; heap_used_mb: number }[] = [];
  private everyMs: number;
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout;

  constructor(everyMs = 5000, private readonly max = 720) {
    this.everyMs = everyMs;
    this.sample();
    this.timer = this.schedule();
  }

  private schedule(): NodeJS.Timeout {
    const t = setInterval(() => this.sample(), this.everyMs);
    t.unref();
    return t;
  }

  private sample(): void {
    const m = process.memoryUsage();
    const mb = (b: number) => Math.round((b / 1024 / 1024) * 10) / 10;
    this.samples.push({ t_s: Math.round((Date.now() - this.t0) / 1000), rss_mb: mb(m.rss), heap_used_mb: mb(m.heapUsed) });
    if (this.samples.length > this.max) {
      const kept = this.samples.filter((_, i) => i % 2 === 0);
      this.samples.splice(0, this.samples.length, ...kept);
      clearInterval(this.timer);
      this.everyMs *= 2;
      this.timer = this.schedule();
    }
  }

  stop(): { every_s: number; samples: { t_s: number; rss_mb: number; heap_used_mb: number }[] } {
    this.sample();
    clearInterval(this.timer);
    return { every_s: this.everyMs / 1000, samples: this.samples };
  }
}
