// A stage's per-second timeline (summary.json stages[].timeline[]), one entry per Interval the recorder cut
// (metrics/interval.ts): what was sent, answered ok and failed by Twirp and socket code, dropped, in flight, the
// target and the achieved rate, p50/p99 of the interval alone. Also keeps the stage's schedule lag (open model:
// how late the bench wrote each arrival) as one histogram for the generator's verdict. Bounded: past MAX_ENTRIES
// the entries stop growing (the totals still come from the recorder).
import type { Interval } from './interval';
import { newHistogram, type Histogram } from './interval';
import type { TimelineEntry } from '../diagnosis/evidence';

export const MAX_ENTRIES = 3600;

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export class StageTimeline {
  readonly entries: TimelineEntry[] = [];
  private lag: Histogram | null = null;

  add(iv: Interval): void {
    if (iv.scheduleLagUs && iv.scheduleLagUs.totalCount > 0) {
      this.lag ??= newHistogram();
      this.lag.add(iv.scheduleLagUs);
    }
    if (this.entries.length >= MAX_ENTRIES) return;
    const span = (iv.t1Ms - iv.t0Ms) / 1000;
    const n = iv.latency.totalCount;
    this.entries.push({
      t_s: round(iv.t1Ms / 1000),
      sent: iv.counts.sent,
      ok: iv.counts.ok,
      errors: iv.counts.errors,
      dropped: iv.counts.dropped,
      scheduled: iv.scheduled,
      in_flight: iv.inFlight,
      target_rate: iv.targetRate === null ? null : round(iv.targetRate, 2),
      achieved_rate: span > 0 ? round(iv.counts.completed / span, 2) : 0,
      p50_ms: n > 0 ? round(iv.latency.getValueAtPercentile(50) / 1000) : null,
      p99_ms: n > 0 ? round(iv.latency.getValueAtPercentile(99) / 1000) : null,
      by_twirp_code: { ...iv.byTwirpCode },
      by_error_code: { ...iv.byErrorCode },
    });
  }

  /** The stage's schedule lag in ms (open model), null when nothing was scheduled. */
  scheduleLagMs(): { p50: number; p99: number; max: number } | null {
    const h = this.lag;
    if (!h || h.totalCount === 0) return null;
    return { p50: round(h.getValueAtPercentile(50) / 1000), p99: round(h.getValueAtPercentile(99) / 1000), max: round(h.maxValue / 1000) };
  }
}
