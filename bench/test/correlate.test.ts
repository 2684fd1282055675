// Client vs server reconciliation: deltas from two /metrics scrapes, tolerance for requests without an answer,
// and every disagreement named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffSnapshots, snapshotFromText } from '../src/target/server-metrics';
import { correlate } from '../src/target/correlate';
import type { StageResult } from '../src/types';

function metrics(accepted: number, invalid: number, unavailable: number, rows: number, http = accepted + invalid + unavailable): string {
  return [
    `pageview_pushes_total{result="accepted",twirp_code="ok"} ${accepted}`,
    `pageview_pushes_total{result="rejected",twirp_code="invalid_argument"} ${invalid}`,
    `pageview_pushes_total{result="rejected",twirp_code="unavailable"} ${unavailable}`,
    `http_server_request_duration_seconds_count{http_request_method="POST",http_route="/twirp/stats.StatsService/Push",http_response_status_code="200",twirp_code="ok"} ${http}`,
    `http_server_request_duration_seconds_count{http_request_method="GET",http_route="/metrics",http_response_status_code="200",twirp_code="ok"} 99`,
    `pageview_rows_committed_total ${rows}`,
    `db_client_connection_count{db_client_connection_state="used"} 2`,
    `db_client_connection_count{db_client_connection_state="idle"} 8`,
    `db_client_connection_max 10`,
    '',
  ].join('\n');
}

function client(over: Partial<StageResult['counts']>, byTwirp: Record<string, number>): StageResult {
  return {
    name: 's', model: 'closed', started_at: '', ended_at: '', duration_ms: 1000,
    counts: { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0, ...over },
    rate: { target: null, achieved: 0 },
    latency_ms: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 },
    by_status: {}, by_twirp_code: byTwirp, by_error_code: {}, bytes: { sent: 0, received: 0 },
  };
}

test('snapshots read pushes by code, the Push route only, counters and gauges', () => {
  const s = snapshotFromText(metrics(10, 2, 1, 10));
  assert.deepEqual(s.pushes, { ok: 10, invalid_argument: 2, unavailable: 1 });
  assert.deepEqual(s.http, { ok: 13 });
  assert.equal(s.counters.rows_committed, 10);
  assert.deepEqual(s.gauges, { db_connections_used: 2, db_connections_idle: 8, db_connections_max: 10 });
  const errs = snapshotFromText([
    'db_client_connection_errors_total{error_code="ER_CON_COUNT_ERROR",errno="1040"} 12',
    'db_client_connection_errors_total{error_code="ECONNREFUSED",errno=""} 3',
    'pageview_flush_failures_total{twirp_code="unavailable"} 15',
    '',
  ].join('\n'));
  assert.deepEqual(errs.counters, {
    db_connection_errors: 15, flush_failures: 15,
    'db_connection_errors:ER_CON_COUNT_ERROR/1040': 12, 'db_connection_errors:ECONNREFUSED': 3, 'flush_failures:unavailable': 15,
  });
  const none = snapshotFromText('process_cpu_seconds_total 1\n');
  assert.equal(none.pushes, null);
  assert.equal(none.http, null);
});

test('agreement: no disagreements, server counts and rows reported', () => {
  const d = diffSnapshots(snapshotFromText(metrics(100, 5, 0, 100)), snapshotFromText(metrics(190, 15, 0, 190)));
  const r = correlate({
    client: client({ sent: 100, completed: 100, ok: 90, errors: 10 }, { ok: 90, invalid_argument: 10 }),
    delta: d,
    rowsWritten: 90,
  });
  assert.deepEqual(r.disagreements, []);
  assert.equal(r.requests, 100);
  assert.deepEqual(r.by_twirp_code, { ok: 90, invalid_argument: 10 });
  assert.equal(r.rows_written, 90);
  assert.equal(r.extra?.rows_committed, 90);
});

test('requests without an answer give the server room, but not more than that', () => {
  const before = snapshotFromText(metrics(0, 0, 0, 0));
  // 3 timeouts: the server accepted 2 of them after the client gave up; within tolerance.
  const c = client({ sent: 100, completed: 97, ok: 97, errors: 3, timeouts: 3 }, { ok: 97 });
  const fine = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(metrics(99, 0, 0, 99))), rowsWritten: 99 });
  assert.deepEqual(fine.disagreements, []);
  // a caller hung up mid-write: the row is there, the server never counted the push as answered
  const hungUp = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(metrics(97, 0, 0, 98))), rowsWritten: 98 });
  assert.deepEqual(hungUp.disagreements, []);
  // 5 more accepted than the client can explain
  const over = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(metrics(102, 0, 0, 102))), rowsWritten: 102 });
  assert.ok(over.disagreements.some((m) => m.startsWith('accepted: server 102 > client ok 97 + 3')), over.disagreements.join('\n'));
});

test('disagreements name what differs: lost rows, codes, missing requests, metric mismatch', () => {
  const before = snapshotFromText(metrics(0, 0, 0, 0));
  const c = client({ sent: 50, completed: 50, ok: 40, errors: 10 }, { ok: 40, unavailable: 10 });
  const r = correlate({
    client: c,
    delta: diffSnapshots(before, snapshotFromText(metrics(40, 0, 5, 40, 44))),
    rowsWritten: 38,
  });
  const has = (prefix: string) => assert.ok(r.disagreements.some((m) => m.startsWith(prefix)), `${prefix}\n${r.disagreements.join('\n')}`);
  has('requests answered: server 45 < client completed 50');
  has('twirp unavailable: server 5 < client unavailable 10');
  has('server metrics disagree: pageview_pushes_total 45 vs http Push count 44');
  has('rows written: server 38 < client ok 40');
  has('rows written 38 < server accepted 40: acknowledged writes are missing');
  has('rows written 38 != server pageview_rows_committed_total 40');
  assert.equal(r.disagreements.length, 6, r.disagreements.join('\n'));
});

test('a restarted server (counter reset) uses the after value as the delta', () => {
  const d = diffSnapshots(snapshotFromText(metrics(500, 0, 0, 500)), snapshotFromText(metrics(20, 0, 0, 20)));
  assert.equal(d.pushes?.ok, 20);
});

test('rows of deadline_exceeded answers are within tolerance (their outcome is unknown); duplicated keys are not', () => {
  const before = snapshotFromText(metrics(0, 0, 0, 0));
  const text = (rows: number) =>
    `${metrics(90, 0, 0, rows, 100)}pageview_pushes_total{result="rejected",twirp_code="deadline_exceeded"} 10\n`;
  const c = client({ sent: 100, completed: 100, ok: 90, errors: 10 }, { ok: 90, deadline_exceeded: 10 });
  // 6 of the 10 unconfirmed writes did commit: no disagreement, and none about duplicates when there are none.
  const fine = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(text(96))), rowsWritten: 96, duplicateRows: 0 });
  assert.deepEqual(fine.disagreements, []);
  assert.equal(fine.rows_duplicated, 0);
  // More rows than ok + unknown outcomes: something was stored that nobody sent.
  const over = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(text(101))), rowsWritten: 101 });
  assert.ok(over.disagreements.some((m) => m.startsWith('rows written: server 101 > client ok 90 + 10')), over.disagreements.join('\n'));
  const dup = correlate({ client: c, delta: diffSnapshots(before, snapshotFromText(text(92))), rowsWritten: 92, duplicateRows: 2 });
  assert.ok(dup.disagreements.includes("2 row(s) repeat another row's idempotency key: a Push was stored twice"), dup.disagreements.join('\n'));
});
