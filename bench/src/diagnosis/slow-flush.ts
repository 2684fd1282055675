// A slow answer explained by the write: a Push is answered only once its flush committed, so when the flush time
// makes up most of the client's p99, the database (or the network to it) is where the time went. When the flush
// was quick but the answer was not, the time was spent before the write (the service's event loop, the network,
// the bench's own queueing), which is worth saying as well.
import type { Diagnosis, StageEvidence } from './evidence';
import { ms } from './format';
import { isGeneratorSaturated } from './generator-saturated';

export const RULE = 'slow-flush';
/** Below this client p99 nothing is slow enough to explain unless a latency threshold failed. */
export const SLOW_P99_MS = 100;

export function slowFlush(e: StageEvidence): Diagnosis | null {
  const t = e.server?.time;
  const p99 = e.client.latency_ms.p99;
  if (e.client.counts.completed === 0 || !t || t.flush_ms.p99 === null || t.flushes === 0) return null;
  const latencyFailed = e.failed.some((r) => /^(service_)?(p\d+|max|mean|med|avg)/.test(r.expr));
  if (!latencyFailed && p99 < SLOW_P99_MS) return null;
  const flush = t.flush_ms.p99;
  // open model: the time from the actual send (the bench's own lag behind its schedule left out) is what the
  // service spent, and what the flush is a part of
  const served = e.client.service_time_ms?.p99 ?? p99;
  const evidence = {
    client_p99_ms: p99,
    service_p99_ms: e.client.service_time_ms?.p99 ?? null,
    flush_p50_ms: t.flush_ms.p50,
    flush_p99_ms: flush,
    acquire_wait_p99_ms: t.acquire_wait_ms.p99,
    rows_per_flush: t.rows_per_flush.mean,
  };
  // A Push may wait for the partial flush in flight and then ride the next one: up to about twice the flush time
  // (and more behind a queue of them) is still the database's doing, so a third of the p99 is enough to say so.
  if (flush >= served / 3) {
    const wait = t.acquire_wait_ms.p99;
    const waited = wait !== null && wait >= 0.25 * flush ? `; a flush waited p99 ${ms(wait)} for a pool connection` : '';
    return {
      rule: RULE,
      severity: 'warn',
      text: `p99 ${ms(p99)}: flushes took p99 ${ms(flush)} (group commit waits on the database)${waited}`,
      evidence,
    };
  }
  // a bench that fell behind its own schedule explains the latency itself (generator-saturated says so)
  const g = e.generator;
  if (g && isGeneratorSaturated(g.schedule_lag_ms?.p99 ?? null, g.event_loop_delay_ms?.p99 ?? null, p99)) return null;
  const buffered = e.server?.peaks.buffer;
  return {
    rule: RULE,
    severity: 'info',
    text: `p99 ${ms(p99)} while flushes took p99 ${ms(flush)}: most of the time went before the flush ` +
      `(Pushes waiting in the write buffer${buffered !== undefined ? `, peak ${buffered}` : ''}, the service's event loop or the network), not to the INSERT`,
    evidence: { ...evidence, buffer_peak: buffered ?? null },
  };
}
