// Client counts next to the server's, per stage, and every disagreement spelled out. The client cannot know the
// fate of a request it sent but got no answer for (timeout, reset, cut at the stage's end): the server may or
// may not have handled it. So each server figure must lie in [client figure, client figure + unknown].
import type { ServerStageCounts, StageResult } from '../types';
import { total, type SnapshotDelta } from './server-metrics';

export interface CorrelateInput {
  client: StageResult;
  delta: SnapshotDelta;
  /** rows added to `incoming` during the stage, when MYSQL_URL is set */
  rowsWritten?: number;
  /** of those, rows whose idempotency key another row of the stage also holds (a Push stored twice) */
  duplicateRows?: number;
}

export function correlate({ client, delta, rowsWritten, duplicateRows }: CorrelateInput): ServerStageCounts {
  const c = client.counts;
  const unknown = Math.max(0, c.sent - c.completed);
  // deadline_exceeded answers say the outcome is unknown (the write may be stored): rows may exceed the acks by those.
  const unknownOutcome = unknown + (client.by_twirp_code.deadline_exceeded ?? 0);
  const byCode = delta.pushes ?? delta.http ?? {};
  const requests = total(byCode);
  const disagreements: string[] = [];
  const within = (what: string, serverValue: number, clientValue: number, clientWhat: string): void => {
    if (serverValue < clientValue) {
      disagreements.push(`${what}: server ${serverValue} < client ${clientWhat} ${clientValue}`);
    } else if (serverValue > clientValue + unknown) {
      disagreements.push(
        `${what}: server ${serverValue} > client ${clientWhat} ${clientValue} + ${unknown} request(s) without an answer`,
      );
    }
  };

  if (delta.pushes === null && delta.http === null) {
    disagreements.push('server exposes neither pageview_pushes_total nor http_server_request_duration_seconds: nothing to compare');
  } else {
    within('requests answered', requests, c.completed, 'completed');
    within('accepted', byCode.ok ?? 0, c.ok, 'ok');
    const codes = new Set([...Object.keys(byCode), ...Object.keys(client.by_twirp_code)]);
    codes.delete('ok');
    for (const code of [...codes].sort()) {
      within(`twirp ${code}`, byCode[code] ?? 0, client.by_twirp_code[code] ?? 0, code);
    }
    if (delta.pushes !== null && delta.http !== null) {
      const h = total(delta.http);
      if (h !== requests) disagreements.push(`server metrics disagree: pageview_pushes_total ${requests} vs http Push count ${h}`);
    }
  }
  if (rowsWritten !== undefined) {
    // An acknowledged write must be in the table; a row beyond the acks is a write whose answer never arrived or
    // said its outcome was unknown (deadline_exceeded).
    if (rowsWritten < c.ok) disagreements.push(`rows written: server ${rowsWritten} < client ok ${c.ok}`);
    else if (rowsWritten > c.ok + unknownOutcome) {
      disagreements.push(`rows written: server ${rowsWritten} > client ok ${c.ok} + ${unknownOutcome} request(s) without an answer or with deadline_exceeded`);
    }
    if (delta.pushes !== null) {
      // A push whose caller hung up is still written (writes cannot be cancelled) but may never be counted as
      // answered, so rows may exceed the server's accepted count by the requests the client got no answer for.
      const accepted = byCode.ok ?? 0;
      const maybe = unknown + (byCode.deadline_exceeded ?? 0);
      if (rowsWritten < accepted) disagreements.push(`rows written ${rowsWritten} < server accepted ${accepted}: acknowledged writes are missing`);
      else if (rowsWritten > accepted + maybe) disagreements.push(`rows written ${rowsWritten} > server accepted ${accepted} + ${maybe} request(s) without an answer or with deadline_exceeded`);
    }
    if (duplicateRows !== undefined && duplicateRows > 0) {
      disagreements.push(`${duplicateRows} row(s) repeat another row's idempotency key: a Push was stored twice`);
    }
    const committed = delta.counters.rows_committed;
    if (committed !== undefined && committed !== rowsWritten) {
      disagreements.push(`rows written ${rowsWritten} != server pageview_rows_committed_total ${committed}`);
    }
  }
  const extra: Record<string, number> = {};
  for (const [k, v] of Object.entries(delta.counters)) extra[k] = v;
  for (const [k, v] of Object.entries(delta.gauges)) extra[`${k}_at_end`] = v;
  if (delta.http !== null && delta.pushes !== null) extra.http_push_requests = total(delta.http);
  const out: ServerStageCounts = { requests, by_twirp_code: byCode, disagreements };
  if (rowsWritten !== undefined) out.rows_written = rowsWritten;
  if (duplicateRows !== undefined) out.rows_duplicated = duplicateRows;
  if (Object.keys(extra).length > 0) out.extra = extra;
  return out;
}
