// High-water marks per scraper window: a peak between two scrapes is seen even when the gauge is back to 0 at the
// second one, and two scrapers reading at their own pace never reset each other's peak. The real app on a port: a
// partial batch that waits 300 ms holds 30 concurrent Pushes in the buffer, and in flight, at once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { MAX_WINDOWS, PeakGauge, windowName } from '../src/telemetry/peak-windows';
import { metricValue, post, startApp } from './support/service';

test('PeakGauge: each window has its own peak; its first read is the value then; the least recently read goes first', () => {
  let now = 0;
  const g = new PeakGauge(() => now);
  assert.equal(g.read('a'), 0);
  assert.equal(g.read('b'), 0);
  now = 7;
  g.observe(7);
  now = 2;
  g.observe(2);
  assert.equal(g.read('a'), 7);
  assert.equal(g.read('a'), 2, 'a new window starts at the value of the read');
  assert.equal(g.read('b'), 7, "a's reads left b's window alone");
  assert.equal(g.read('c'), 2);
  for (let i = 0; i < MAX_WINDOWS; i++) g.read(`w${i}`);
  g.observe(9);
  // 'a', 'b' and 'c' were read least recently: they were forgotten, so the 9 is not theirs any more
  assert.equal(g.read('a'), 2);
  assert.equal(windowName(undefined), 'default');
  assert.equal(windowName('bench-2026.run:1'), 'bench-2026.run:1');
  assert.equal(windowName('a b'), undefined);
  assert.equal(windowName(['x', 'y']), undefined);
});

let app: FastifyInstance;
let base: string;
before(async () => {
  ({ app, base } = await startApp({ BATCH_FLUSH_INTERVAL_MS: '300', BATCH_MAX_ROWS: '50', BUFFER_CAPACITY: '50' }));
});
after(async () => {
  await app?.close();
});

async function scrape(window?: string): Promise<string> {
  const res = await fetch(`${base}/metrics${window === undefined ? '' : `?window=${window}`}`);
  assert.equal(res.status, 200);
  return res.text();
}

test('the service: buffer and in-flight peaks between two scrapes, per window', async () => {
  await scrape('bench');
  await scrape('prometheus');
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) => post(base, JSON.stringify({ property: 'news', section: 1, id: i + 1 }))),
  );
  assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));

  const bench = await scrape('bench');
  assert.equal(metricValue(bench, 'pageview_buffer_depth'), 0, 'the buffer is empty again');
  assert.equal(metricValue(bench, 'pageview_buffer_depth_peak'), 30);
  assert.ok(metricValue(bench, 'http_server_active_requests_peak') >= 30);
  assert.equal(metricValue(bench, 'db_client_connection_used_peak'), 0, 'the embedded store has no pool');
  const again = await scrape('bench');
  assert.equal(metricValue(again, 'pageview_buffer_depth_peak'), 0, 'a new window for the bench');
  const prom = await scrape('prometheus');
  assert.equal(metricValue(prom, 'pageview_buffer_depth_peak'), 30, "the bench's scrapes did not reset Prometheus' window");
  assert.equal(metricValue(prom, 'http_server_active_requests'), 1, 'only this scrape is in flight');
  assert.equal((await fetch(`${base}/metrics?window=${encodeURIComponent('no spaces')}`)).status, 400);
});
