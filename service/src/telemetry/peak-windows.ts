// High-water marks of gauges that move faster than anyone scrapes them (the write buffer, pool connections in use,
// requests in flight). A gauge read once a second misses the moment the buffer was full (issue 12: the buffer
// overflowed while its sampled peak read 7 of 10), so every change is compared with the peak of each reader's
// window, and a scrape returns the highest value since that reader's previous scrape, then starts its next window.
//
// Several readers (Prometheus, one or more benches) scrape the same service at their own pace; a single peak reset
// by every scrape would hand each of them only the part of the window since someone else's scrape. So a window
// belongs to a reader, named by the scrape's `window` query parameter (`/metrics?window=bench-42`; none is the
// window "default", which a lone Prometheus can use). At most MAX_WINDOWS are kept: past that, the one read least
// recently is forgotten, and if its reader comes back its next scrape starts a fresh window (the value at that
// moment, nothing from before).

export const MAX_WINDOWS = 16;
export const DEFAULT_WINDOW = 'default';
const WINDOW_NAME = /^[A-Za-z0-9._:-]{1,64}$/;

/** A valid window name, the default window for none, undefined for a bad one (the scrape then answers 400). */
export function windowName(raw: unknown): string | undefined {
  if (raw === undefined || raw === '') return DEFAULT_WINDOW;
  return typeof raw === 'string' && WINDOW_NAME.test(raw) ? raw : undefined;
}

export class PeakGauge {
  private readonly names: string[] = [];
  // Parallel to `names`: the highest value seen in each window, and when the window was last read (for eviction).
  private readonly peaks = new Float64Array(MAX_WINDOWS);
  private readonly readAt = new Float64Array(MAX_WINDOWS);
  private reads = 0;

  /** `current` reads the gauge itself: a window starts at, and never reads below, the value at its scrape. */
  constructor(private readonly current: () => number) {}

  /** A new value of the gauge (called where it rises: enqueue, acquire, request start). A few comparisons. */
  observe(value: number): void {
    const p = this.peaks;
    for (let i = 0; i < this.names.length; i++) if (value > p[i]!) p[i] = value;
  }

  /** The peak since `window`'s previous read (the current value on its first), and the start of its next window. */
  read(window: string): number {
    const now = this.current();
    let i = this.names.indexOf(window);
    let peak = now;
    if (i < 0) i = this.slotFor(window);
    else peak = Math.max(this.peaks[i]!, now);
    this.peaks[i] = now;
    this.readAt[i] = ++this.reads;
    return peak;
  }

  private slotFor(window: string): number {
    if (this.names.length < MAX_WINDOWS) {
      this.names.push(window);
      return this.names.length - 1;
    }
    let oldest = 0;
    for (let i = 1; i < this.names.length; i++) if (this.readAt[i]! < this.readAt[oldest]!) oldest = i;
    this.names[oldest] = window;
    return oldest;
  }
}
