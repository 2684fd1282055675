// When the i-th arrival of an open-model stage is due. The rate ramps linearly from r0 to r1 over the stage
// (constant when r0 = r1), so arrivals by time t are N(t) = r0·t + (r1 − r0)·t²/(2T), and arrival i is due at
// the t where N(t) = i. Computing each time from i (not by adding intervals) means no drift accumulates, and a
// scheduler that wakes late simply starts every arrival already due, each keeping its own intended time
// (k6 ramping-arrival-rate, wrk2's constant throughput).
export class ArrivalSchedule {
  private readonly r0: number;
  private readonly a: number;
  private readonly durationS: number;

  constructor(rate: number, rampTo: number | undefined, durationMs: number) {
    this.r0 = rate;
    this.durationS = durationMs / 1000;
    const r1 = rampTo ?? rate;
    this.a = (r1 - rate) / (2 * this.durationS);
  }

  /** ms after the stage start at which arrival i (0-based) is due; Infinity if never (rate 0 throughout). */
  atMs(i: number): number {
    if (i <= 0) return this.r0 > 0 || this.a > 0 ? 0 : Number.POSITIVE_INFINITY;
    const b = this.r0;
    const disc = b * b + 4 * this.a * i;
    if (disc < 0) return Number.POSITIVE_INFINITY; // a ramp down reaches fewer arrivals than i
    const denom = b + Math.sqrt(disc);
    // 2i / (b + sqrt(b² + 4ai)) is the root of a·t² + b·t − i = 0 without cancellation when a is tiny
    return denom > 0 ? (2000 * i) / denom : Number.POSITIVE_INFINITY;
  }

  /** Arrivals planned in the first `ms` (N(t)). */
  plannedBy(ms: number): number {
    const t = Math.min(ms, this.durationS * 1000) / 1000;
    return this.r0 * t + this.a * t * t;
  }

  /**
   * How many arrivals are due by `ms` (those with atMs(i) <= ms, counted from arrival 0), within the stage:
   * an arrival due exactly at the stage's end belongs to the next stage.
   */
  dueBy(ms: number): number {
    if (ms < 0) return 0;
    const end = this.durationS * 1000;
    const t = Math.min(ms, end);
    let n = Math.floor(this.plannedBy(t) + 1e-9) + 1;
    // float rounding at the boundaries: settle on the exact count by the schedule itself
    while (n > 0 && !(this.atMs(n - 1) <= t && this.atMs(n - 1) < end)) n--;
    while (this.atMs(n) <= t && this.atMs(n) < end) n++;
    return n;
  }

  /** Target rate at `ms` after the start. */
  rateAt(ms: number): number {
    const t = Math.min(Math.max(ms, 0), this.durationS * 1000) / 1000;
    return this.r0 + 2 * this.a * t;
  }
}
