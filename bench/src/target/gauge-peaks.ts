// The target's gauges at their peak during a stage (summary: stages[].server.extra.*_peak).
import { scrapeMetrics } from './server-metrics';

/**
 * Gauges (pool connections in use, requests waiting for a connection, write buffer depth) say most at their
 * peak, which two scrapes around a stage miss. Sample /metrics about once a second during the stage, one
 * scrape at a time (each bounded), and keep the maxima.
 */
export class GaugePeaks {
  readonly max: Record<string, number> = {};
  samples = 0;
  private readonly timer: NodeJS.Timeout;
  private inFlight: Promise<void> | null = null;

  constructor(private readonly target: string, everyMs = 1000) {
    this.timer = setInterval(() => {
      if (this.inFlight) return;
      this.inFlight = scrapeMetrics(this.target, Math.min(everyMs, 2000))
        .then((snap) => {
          this.samples++;
          for (const [k, v] of Object.entries(snap.gauges)) if (Number.isFinite(v)) this.max[k] = Math.max(this.max[k] ?? v, v);
        })
        .catch(() => undefined)
        .finally(() => { this.inFlight = null; });
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }
}
