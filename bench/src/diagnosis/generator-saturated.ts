// The bench's own limit: in the open model every arrival has a slot; when the bench writes requests late (its event
// loop busy or the machine's CPU taken), latency measured from the slot grows although the service may be fine.
// A lag p99 of more than LAG_P99_MS says the generator, not the service, was the bottleneck.
import type { Diagnosis, StageEvidence } from './evidence';
import { ms } from './format';

export const RULE = 'generator-saturated';
export const LAG_P99_MS = 20;
/** The closed model has no schedule: an event loop delayed this much (p99) is the generator's limit there. */
export const LOOP_DELAY_P99_MS = 50;

export function generatorSaturated(e: StageEvidence): Diagnosis | null {
  const g = e.generator;
  const lag = g?.schedule_lag_ms;
  if (!g || (!g.saturated && !(lag && lag.p99 >= LAG_P99_MS))) return null;
  const loop = g.event_loop_delay_ms;
  const lagText = lag ? `lag p99 ${ms(lag.p99)}, max ${ms(lag.max)}` : 'its event loop was blocked';
  return {
    rule: RULE,
    severity: 'warn',
    text: `the bench fell behind its own schedule (${lagText}): the generator, not the service, was saturated` +
      (loop ? `; its event loop was delayed p99 ${ms(loop.p99)}` : ''),
    evidence: { schedule_lag_ms: lag ?? null, event_loop_delay_ms: loop ?? null, saturated: g.saturated ?? null },
  };
}
