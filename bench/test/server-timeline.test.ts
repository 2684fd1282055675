// The server timeline during a stage: /metrics scraped about once an interval in the bench's own peak window, an
// entry per scrape with the deltas since the previous one, the peak gauges' maxima kept with their capacity,
// nothing after stop; a scrape that fails (a target down or answering garbage) is counted and the next one tries
// again, so a target that comes back is followed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerTimeline, benchWindow } from '../src/target/server-timeline';
import { snapshotFromText } from '../src/target/server-metrics';
import { startMetricsServer } from './support/metrics-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const text = (ok: number, unavailable: number, depthPeak: number, usedPeak: number) =>
  `pageview_pushes_total{result="accepted",twirp_code="ok"} ${ok}\n` +
  `pageview_pushes_total{result="rejected",twirp_code="unavailable"} ${unavailable}\n` +
  `pageview_buffer_depth 0\npageview_buffer_capacity 10\npageview_buffer_depth_peak ${depthPeak}\n` +
  `db_client_connection_max 40\ndb_client_connection_used_peak ${usedPeak}\n` +
  'pageview_flush_duration_seconds_bucket{le="0.1"} 5\npageview_flush_duration_seconds_bucket{le="+Inf"} 5\n' +
  'pageview_flush_duration_seconds_sum 0.2\npageview_flush_duration_seconds_count 5\n';

test('entries per scrape, peaks with capacity, in the bench window; failures counted and scraping resumes', async (t) => {
  const srv = await startMetricsServer(text(0, 0, 0, 0));
  t.after(() => srv.close());
  const window = benchWindow('20261202T140000Z-smoke-abc123');
  assert.equal(window, 'bench-20261202T140000Z-smoke-abc123');
  const tl = new ServerTimeline(srv.url, window, Date.now(), snapshotFromText(text(0, 0, 0, 0)));
  tl.start(100);
  const waitScrapes = async (n: number) => {
    const target = srv.scrapes + n;
    for (let i = 0; i < 200 && srv.scrapes < target; i++) await sleep(20);
  };
  srv.text = text(10, 2, 7, 30);
  await waitScrapes(2);
  srv.text = 'this is { not prometheus text\n';
  await waitScrapes(2);
  srv.text = text(25, 2, 3, 40);
  await waitScrapes(2);
  await tl.stop();
  const after = srv.scrapes;
  await sleep(300);
  assert.equal(srv.scrapes, after, 'no scrape after stop');
  assert.equal(srv.window, window);
  assert.ok(tl.failures >= 1, 'the garbage scrapes were counted');
  assert.deepEqual(tl.peaks(), { buffer: { peak: 7, capacity: 10 }, pool: { peak: 40, max: 40 }, in_flight: { peak: null } });
  const total = tl.entries.reduce((a, e) => a + e.requests, 0);
  assert.equal(total, 27, 'the deltas add up to what the counters moved, across the failed scrapes');
  assert.equal(tl.entries.reduce((a, e) => a + e.errors, 0), 2);
  const first = tl.entries.find((e) => e.requests > 0)!;
  assert.deepEqual(first.by_twirp_code, { ok: 10, unavailable: 2 });
  assert.equal(first.buffer_capacity, 10);
  assert.equal(first.pool_max, 40);
  assert.ok(tl.entries.some((e) => e.requests === 15), 'after the failures, scraping went on');
  for (let i = 1; i < tl.entries.length; i++) assert.ok(tl.entries[i]!.t_s >= tl.entries[i - 1]!.t_s);
});

test('a target slower than the scrape timeout gives no entries and no peaks, only failures', async (t) => {
  const slow = await startMetricsServer(text(1, 0, 4, 0));
  t.after(() => slow.close());
  slow.delayMs = 1000;
  const tl = new ServerTimeline(slow.url, 'bench-x', Date.now(), null);
  tl.start(50);
  for (let i = 0; i < 100 && tl.failures < 2; i++) await sleep(20);
  await tl.stop();
  assert.deepEqual(tl.entries, []);
  assert.equal(tl.peaks().buffer.peak, null);
  assert.ok(tl.failures >= 2);
});
