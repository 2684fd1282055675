// After a stage the bench waits (bounded) for the target's counts to catch up with the client's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settle } from '../src/target/settle';
import { scrapeMetrics, total } from '../src/target/server-metrics';
import type { StageResult } from '../src/types';
import { startMetricsServer } from './support/metrics-server';

const pushes = (ok: number, unavailable = 0) =>
  `pageview_pushes_total{result="accepted"} ${ok}\npageview_pushes_total{result="rejected",twirp_code="unavailable"} ${unavailable}\n`;

function client(sent: number, completed: number): StageResult {
  return {
    name: 's', model: 'open', started_at: '', ended_at: '', duration_ms: 1000,
    counts: { sent, completed, ok: completed, errors: 0, timeouts: 0, dropped: 0 },
    rate: { target: null, achieved: 0 }, latency_ms: { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 },
    by_status: {}, by_twirp_code: {}, by_error_code: {}, bytes: { sent: 0, received: 0 },
  };
}

test('waits until the server has answered every request the client sent', async (t) => {
  const srv = await startMetricsServer(pushes(100));
  t.after(() => srv.close());
  const before = await scrapeMetrics(srv.url);
  srv.text = pushes(104);
  const later = setTimeout(() => { srv.text = pushes(108, 2); }, 400);
  t.after(() => clearTimeout(later));
  const r = await settle({ target: srv.url, settleMs: 30_000 }, before, null, client(10, 10));
  const answered = total(r.snap.pushes) - total(before.pushes);
  assert.equal(answered, 10);
  assert.equal(r.rows, undefined);
});

test('stops once nothing changes for three scrapes, or at settleMs, with the last scrape', async (t) => {
  const srv = await startMetricsServer(pushes(0));
  t.after(() => srv.close());
  const before = await scrapeMetrics(srv.url);
  // 10 answered, 2 never will be (the client gave up on them): stable, not all accounted
  srv.text = pushes(10);
  const scrapesBefore = srv.scrapes;
  const stable = await settle({ target: srv.url, settleMs: 60_000 }, before, null, client(12, 10));
  assert.equal(total(stable.snap.pushes), 10);
  // ended by stability (a few scrapes 150 ms apart), long before the 60 s bound would allow hundreds
  assert.ok(srv.scrapes - scrapesBefore <= 10, `${srv.scrapes - scrapesBefore} scrapes`);
  // behind what the client saw answered: only the bound ends the wait
  const behind = await settle({ target: srv.url, settleMs: 400 }, before, null, client(20, 20));
  assert.equal(total(behind.snap.pushes), 10);
});
