import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GeneratorWatch, SATURATED_LOOP_DELAY_P99_MS } from '../src/metrics/generator-watch';
import { LatencyHistogram } from '../src/metrics/latency-histogram';

const spin = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* the loop is blocked */ } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a blocked event loop shows in the loop delay, and the stage is called saturated', async () => {
  const w = new GeneratorWatch();
  for (let i = 0; i < 4; i++) {
    await sleep(30);
    spin(80);
  }
  const g = w.stop(null);
  assert.ok(g.event_loop_delay_ms.max >= 60, `max ${g.event_loop_delay_ms.max}`);
  assert.ok(g.event_loop_delay_ms.p99 > SATURATED_LOOP_DELAY_P99_MS, `p99 ${g.event_loop_delay_ms.p99}`);
  assert.equal(g.saturated, true);
  assert.ok(g.saturated_because.some((b) => /event-loop delay p99/.test(b)), g.saturated_because.join());
  assert.ok(g.loop_utilization > 0.5, `utilization ${g.loop_utilization}`);
  assert.equal(g.schedule_lag_ms, null);
  assert.equal(g.latency_floor_ms, g.event_loop_delay_ms.p99);
  assert.deepEqual(w.stop(null), g, 'stop is idempotent');
});

test('schedule lag is judged from the open model\'s histogram; GC pauses are counted', async () => {
  const w = new GeneratorWatch();
  const lag = new LatencyHistogram();
  for (let i = 0; i < 1000; i++) lag.record(i < 980 ? 200 : 9000); // 2% of arrivals written 9 ms late
  lag.takeInterval();
  // garbage enough for a few scavenges
  let keep: unknown[] = [];
  for (let i = 0; i < 200_000; i++) { keep.push({ i, s: `x${i}` }); if (keep.length > 1000) keep = []; }
  await sleep(20); // GC entries are delivered asynchronously
  const g = w.stop(lag);
  assert.deepEqual(g.schedule_lag_ms, { p50: 0.2, p99: 9, max: 9 });
  assert.ok(g.saturated && g.saturated_because.some((b) => /schedule lag p99 9 ms/.test(b)), g.saturated_because.join());
  assert.ok(g.latency_floor_ms >= 9);
  assert.ok(g.gc_pause_ms.count >= 1 && g.gc_pause_ms.total > 0 && g.gc_pause_ms.max <= g.gc_pause_ms.total, JSON.stringify(g.gc_pause_ms));
});
