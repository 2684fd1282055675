// The service stopped answering: from the per-second timeline, the first interval from which no answer came and
// requests failed on the socket (connection refused or reset) for the rest of the stage, or until answers came back.
// When the bench started the service itself and saw it exit, that is said too.
import type { Diagnosis, StageEvidence, TimelineEntry } from './evidence';
import { seconds } from './format';

export const RULE = 'service-stopped';

/** Where answers stopped (and came back, if they did), from a stage's timeline. */
export function answersStopped(timeline: TimelineEntry[]): { atS: number; index: number; codes: Record<string, number>; backAtS: number | null } | null {
  let start = -1;
  for (let i = 0; i < timeline.length; i++) {
    const t = timeline[i]!;
    const silent = t.ok === 0 && t.errors > 0 && Object.keys(t.by_error_code).length > 0 && sumAnswers(t) === 0;
    if (silent && start < 0) start = i;
    if (!silent && start >= 0 && t.ok > 0) {
      return { atS: startOf(timeline, start), index: start, codes: codesIn(timeline.slice(start, i)), backAtS: startOf(timeline, i) };
    }
  }
  if (start < 0) return null;
  return { atS: startOf(timeline, start), index: start, codes: codesIn(timeline.slice(start)), backAtS: null };
}

function sumAnswers(t: TimelineEntry): number {
  return Object.values(t.by_twirp_code).reduce((a, b) => a + b, 0);
}

/** An interval's start: the previous one's end (0 for the first). */
function startOf(timeline: TimelineEntry[], i: number): number {
  return i === 0 ? 0 : timeline[i - 1]!.t_s;
}

function codesIn(entries: TimelineEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of entries) for (const [k, v] of Object.entries(t.by_error_code)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export function serviceStopped(e: StageEvidence): Diagnosis | null {
  const stop = e.timeline ? answersStopped(e.timeline) : null;
  const exit = e.serviceExit;
  if (!stop && !exit) return null;
  const codes = stop ? Object.entries(stop.codes).sort((a, b) => b[1] - a[1]).map(([k]) => k) : [];
  // The timeline says in which second answers stopped; the first request that failed on the socket in or just
  // before that second (the stage keeps the first failures with their times) says when, to the millisecond.
  let at = stop?.atS ?? exit!.at_s;
  if (stop) {
    // answers may have stopped part-way through the interval before the first silent one
    const from = stop.index >= 1 ? startOf(e.timeline!, stop.index - 1) : 0;
    const first = (e.client.worst?.failed ?? []).find((r) => r.status === 0 && r.error_code !== null && r.at_ms / 1000 >= from);
    if (first && first.at_ms / 1000 <= stop.atS) at = Math.round(first.at_ms) / 1000;
  }
  const exitText = exit
    ? `; the service the bench started exited at ${seconds(exit.at_s)} (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`
    : '';
  return {
    rule: RULE,
    severity: 'error',
    text: `the service stopped answering at ${seconds(at)}${codes.length ? ` (${codes.join(', ')})` : ''}` +
      (stop?.backAtS != null ? ` and answered again at ${seconds(stop.backAtS)}` : '') + exitText,
    evidence: { stopped_at_s: at, back_at_s: stop?.backAtS ?? null, socket_errors: stop?.codes ?? {}, service_exit: exit ?? null },
  };
}
