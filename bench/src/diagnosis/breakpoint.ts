// The breakpoint's verdict in words: where the limit is, or that none was found below the top rate tried; and at
// the first failing step, who saturated first: the load generator (it fell behind its own schedule, so the failure
// says little about the service) or the service.
import type { StageResult, StageSpec, Summary, ThresholdResult } from '../types';
import { ms } from './format';
import { isGeneratorSaturated } from './generator-saturated';

export function breakpointVerdict(
  specs: StageSpec[], results: StageResult[], thresholds: ThresholdResult[], highestHeld: number | null,
  firstFailed: string | null, ceiling: number | undefined, completed: boolean, profileHasThresholds: boolean,
): NonNullable<Summary['breakpoint']> {
  const rateOf = (s: StageSpec) => Math.max(s.rate ?? 0, s.rampTo ?? 0);
  // the steps that are judged (a warm-up without thresholds is not one of them, whatever its rate)
  const steps = specs.filter((s) => s.model === 'open' && (s.thresholds.length > 0 || profileHasThresholds));
  const top = Math.max(0, ...steps.map(rateOf));
  const out: NonNullable<Summary['breakpoint']> = {
    highest_rate_held: highestHeld,
    first_failed_stage: firstFailed,
    top_rate: top,
    ceiling: ceiling ?? null,
    limit_found: firstFailed !== null,
    saturated: null,
  };
  const held = highestHeld === null ? 'no step held' : `${highestHeld} req/s held`;
  if (firstFailed === null) {
    out.text = completed
      ? `no limit found below ${top} req/s: every step held${ceiling === undefined ? ' (--ceiling R climbs further)' : ''}`
      : `${held}; the run ended before every step ran, so no limit was found`;
    return out;
  }
  const spec = specs.find((s) => s.name === firstFailed);
  const result = results.find((r) => r.name === firstFailed);
  const rate = spec ? rateOf(spec) : null;
  out.first_failed_rate = rate;
  const failed = thresholds.filter((t) => t.stage === firstFailed && !t.passed).map((t) => t.expr).join(', ');
  const g = result?.generator;
  // who ran out first: the generator only when its own lag set the latency, not merely when it was busy
  const generator = isGeneratorSaturated(g?.schedule_lag_ms?.p99 ?? null, g?.event_loop_delay_ms?.p99 ?? null,
    result && result.counts.completed > 0 ? result.latency_ms.p99 : null) && (g?.saturated ?? true);
  out.saturated = generator ? 'generator' : 'service';
  const why = generator
    ? `the generator saturated first (it fell behind its schedule${g?.schedule_lag_ms ? `, lag p99 ${ms(g.schedule_lag_ms.p99)}` : ''}): the service's limit may lie higher, run the bench on more workers`
    : 'the service saturated (the bench kept its schedule)';
  out.text = `${held}; ${firstFailed}${rate !== null ? ` at ${rate} req/s` : ''} failed${failed ? ` ${failed}` : ''}: ${why}`;
  return out;
}
