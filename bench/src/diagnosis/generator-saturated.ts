// The bench's own limit: in the open model every arrival has a slot; when the bench writes requests late (its event
// loop busy or the machine's CPU taken), latency measured from the slot grows although the service may be fine.
// A lag p99 of LAG_P99_MS or more that makes up at least half of the latency p99 (measured from the schedule, so
// lag included) says the generator, not the service, was the bottleneck; a smaller lag beside a slow service is
// only noted. The closed model has no
// schedule: an event loop delayed LOOP_DELAY_P99_MS (p99) is the generator's limit there.
import type { Diagnosis, StageEvidence } from './evidence';
import { ms } from './format';

export const RULE = 'generator-saturated';
export const LAG_P99_MS = 20;
export const LOOP_DELAY_P99_MS = 50;

/** The verdict the rule and the breakpoint share. */
export function isGeneratorSaturated(lagP99: number | null, loopP99: number | null, latencyP99: number | null): boolean {
  if (lagP99 !== null) return lagP99 >= LAG_P99_MS && (latencyP99 === null || lagP99 >= 0.5 * latencyP99);
  return loopP99 !== null && loopP99 >= LOOP_DELAY_P99_MS;
}

export function generatorSaturated(e: StageEvidence): Diagnosis | null {
  const g = e.generator;
  if (!g) return null;
  const lag = g.schedule_lag_ms ?? null;
  const loop = g.event_loop_delay_ms ?? null;
  const latency = e.client.counts.completed > 0 ? e.client.latency_ms.p99 : null;
  // the bench's own watch says whether it was near its limit; whether that limit, not the service, set the
  // latency is what this rule adds
  const saturated = isGeneratorSaturated(lag?.p99 ?? null, loop?.p99 ?? null, latency);
  const evidence = { schedule_lag_ms: lag, event_loop_delay_ms: loop, latency_p99_ms: latency, watch_saturated: g.saturated ?? null, saturated };
  const loopText = loop ? `; its event loop was delayed p99 ${ms(loop.p99)}` : '';
  if (saturated) {
    const lagText = lag ? `lag p99 ${ms(lag.p99)}, max ${ms(lag.max)}` : `event loop delayed p99 ${ms(loop!.p99)}`;
    return {
      rule: RULE,
      severity: 'warn',
      text: `the bench fell behind its own schedule (${lagText}): the generator, not the service, was saturated` + (lag ? loopText : ''),
      evidence,
    };
  }
  if ((lag && lag.p99 >= LAG_P99_MS) || g.saturated) {
    const because = g.saturated_because && g.saturated_because.length > 0 ? ` (${g.saturated_because.join('; ')})` : '';
    return {
      rule: RULE,
      severity: 'info',
      text: `the bench was near its own limit${because}, but its schedule lag p99 ${ms(lag?.p99 ?? 0)} is small beside the latency ` +
        `p99 of ${ms(latency ?? 0)}: the service, not the generator, set the latency`,
      evidence,
    };
  }
  return null;
}
