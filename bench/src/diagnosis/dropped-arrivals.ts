// Open model: an arrival that finds maxInFlight requests already in flight is not sent and counts as dropped.
// Little's law says why: requests in flight = arrival rate x time in the system, so when the service's time per
// request grows, the same rate needs more in flight than the cap allows.
import type { Diagnosis, StageEvidence } from './evidence';
import { ms } from './format';

export const RULE = 'dropped-arrivals';

export function droppedArrivals(e: StageEvidence): Diagnosis | null {
  const dropped = e.client.counts.dropped;
  if (dropped === 0 || e.spec.model !== 'open') return null;
  const cap = e.spec.maxInFlight;
  const rate = Math.max(e.spec.rate ?? 0, e.spec.rampTo ?? 0);
  const svc = e.client.service_time_ms ?? e.client.latency_ms;
  // the time a request stays in flight: its p99 is what the cap must absorb at the worst moments
  const needed = Math.round(rate * (svc.p99 / 1000));
  const peak = e.server?.peaks.in_flight;
  return {
    rule: RULE,
    severity: 'warn',
    text: `${dropped} arrivals dropped: rate x latency exceeded maxInFlight ${cap} ` +
      `(${rate} req/s x ${ms(svc.p99)} p99 = ${needed} in flight)`,
    evidence: {
      dropped,
      max_in_flight: cap ?? null,
      rate,
      service_p99_ms: svc.p99,
      service_mean_ms: svc.mean,
      in_flight_needed_at_p99: needed,
      server_in_flight_peak: peak ?? null,
    },
  };
}
