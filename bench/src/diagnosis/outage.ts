// When a stage had errors: when they began, when they ended, and how long the stage took to get back to the rate
// of ok answers it had before (stages[].outage), read off the per-second timeline.
import type { TimelineEntry } from './evidence';

export interface Outage {
  /** start of the first interval with an error, s from the stage start */
  started_at_s: number;
  /** end of the last interval with an error; null when the stage ended still failing */
  ended_at_s: number | null;
  /** from ended_at_s to the end of the first interval whose ok answers per second are back to 90% of the rate
   * before the outage (any ok answer when errors began at once); null when that never happened in the stage */
  recovery_s: number | null;
}

const RECOVERED = 0.9;

/** `firstFailed`: the stage's first failed requests with their times (ms from the stage start), earliest first. */
export function outage(timeline: TimelineEntry[], firstFailed: { at_ms: number }[] = []): Outage | undefined {
  const first = timeline.findIndex((t) => t.errors > 0);
  if (first < 0) return undefined;
  let last = first;
  for (let i = first; i < timeline.length; i++) if (timeline[i]!.errors > 0) last = i;
  const startOf = (i: number) => (i === 0 ? 0 : timeline[i - 1]!.t_s);
  // the first failure's own time when the stage kept it, else the start of its interval
  const failedAt = firstFailed.find((r) => r.at_ms / 1000 >= startOf(first) && r.at_ms / 1000 <= timeline[first]!.t_s);
  const started = failedAt ? Math.round(failedAt.at_ms) / 1000 : startOf(first);
  const okRate = (i: number) => {
    const span = timeline[i]!.t_s - startOf(i);
    return span > 0 ? timeline[i]!.ok / span : 0;
  };
  if (last === timeline.length - 1) return { started_at_s: started, ended_at_s: null, recovery_s: null };
  const ended = timeline[last]!.t_s;
  const before = timeline.slice(0, first).map((_, i) => okRate(i)).sort((a, b) => a - b);
  const baseline = before.length > 0 ? before[Math.floor(before.length / 2)]! : 0;
  for (let i = last + 1; i < timeline.length; i++) {
    const r = okRate(i);
    if (baseline > 0 ? r >= RECOVERED * baseline : timeline[i]!.ok > 0) {
      return { started_at_s: started, ended_at_s: ended, recovery_s: Math.round((timeline[i]!.t_s - ended) * 1000) / 1000 };
    }
  }
  return { started_at_s: started, ended_at_s: ended, recovery_s: null };
}
