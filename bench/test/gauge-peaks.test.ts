// Gauge peaks during a stage: /metrics sampled about once an interval, each scrape bounded by it, maxima kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GaugePeaks } from '../src/target/gauge-peaks';
import { startMetricsServer } from './support/metrics-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gauges = (depth: number, used: number) =>
  `pageview_buffer_depth ${depth}\ndb_client_connection_count{db_client_connection_state="used"} ${used}\n`;

test('keeps the highest value each gauge reached while it sampled, and nothing after stop', async (t) => {
  const srv = await startMetricsServer(gauges(1, 2));
  t.after(() => srv.close());
  const peaks = new GaugePeaks(srv.url, 100);
  for (const [depth, used] of [[7, 3], [3, 9], [2, 1]] as const) {
    srv.text = gauges(depth, used);
    const seen = peaks.samples;
    // two samples of this text (the first may have been asked for before it changed); bounded: 200 x 20 ms
    for (let i = 0; i < 200 && peaks.samples < seen + 2; i++) await sleep(20);
  }
  await peaks.stop();
  assert.deepEqual(peaks.max, { buffer_depth: 7, db_connections_used: 9 });
  assert.ok(peaks.samples >= 6, `${peaks.samples} samples`);
  const after = srv.scrapes;
  await sleep(300);
  assert.equal(srv.scrapes, after, 'no scrape after stop');
});

test('a target slower than the interval or not speaking Prometheus text gives no peaks and no error', async (t) => {
  const slow = await startMetricsServer(gauges(4, 0));
  t.after(() => slow.close());
  slow.delayMs = 1000;
  const p = new GaugePeaks(slow.url, 50);
  for (let i = 0; i < 100 && slow.scrapes < 3; i++) await sleep(20);
  await p.stop();
  assert.equal(p.samples, 0);
  assert.deepEqual(p.max, {});

  const broken = await startMetricsServer('this is { not prometheus text\n');
  t.after(() => broken.close());
  const q = new GaugePeaks(broken.url, 50);
  for (let i = 0; i < 100 && broken.scrapes < 3; i++) await sleep(20);
  await q.stop();
  assert.equal(q.samples, 0);
  assert.deepEqual(q.max, {});
});
