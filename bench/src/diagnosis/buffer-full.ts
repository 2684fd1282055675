// The write buffer full: the service answers resource_exhausted (429) when BUFFER_CAPACITY Pushes already wait for a
// flush, i.e. the database commits slower than Pushes arrive. The service's high-water mark of the buffer (per
// scrape window, not a 1 Hz sample) shows how full it got.
import type { Diagnosis, StageEvidence } from './evidence';

export const RULE = 'buffer-full';

export function bufferFull(e: StageEvidence): Diagnosis | null {
  const n = e.client.by_twirp_code.resource_exhausted ?? 0;
  if (n === 0) return null;
  const cap = e.server?.buffer_capacity;
  const peak = e.server?.peaks.buffer;
  const capText = cap !== undefined ? ` (capacity ${cap}${peak !== undefined ? `, peak ${peak}` : ''})` : '';
  const flush = e.server?.time?.flush_ms.p99;
  return {
    rule: RULE,
    severity: 'error',
    text: `${n} answers were resource_exhausted: the write buffer${capText} was full` +
      (flush !== undefined && flush !== null ? `; flushes took p99 ${Math.round(flush)} ms, slower than Pushes arrived` : ''),
    evidence: { resource_exhausted: n, buffer_capacity: cap ?? null, buffer_peak: peak ?? null, flush_p99_ms: flush ?? null },
  };
}
