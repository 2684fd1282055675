// Budgets for APM events that must not grow with load: edge-sampled transactions, traced flushes, and errors of
// unsampled requests, each at most so many a second.

/**
 * A token bucket: at most `perSecond` takes per second on average, bursts up to `perSecond`. Bounds the APM events
 * that do not scale with the sample rate (errors of unsampled requests, flush transactions).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A token bucket for a per-second limit from the APM state, made anew when the limit changes. */
export class PerSecondBudget {
  private current: { perSecond: number; bucket: TokenBucket } | undefined;
  take(perSecond: number): boolean {
    if (this.current === undefined || this.current.perSecond !== perSecond) {
      this.current = { perSecond, bucket: new TokenBucket(perSecond) };
    }
    return this.current.bucket.take();
  }
}
