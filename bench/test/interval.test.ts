import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addInterval, decodeInterval, emptyInterval, encodeInterval, IntervalDecodeError, mergeWorst, newHistogram,
  type Interval, type WorstRequest,
} from '../src/metrics/interval';

function req(at: number, latency: number, over: Partial<WorstRequest> = {}): WorstRequest {
  return { at_ms: at, latency_ms: latency, status: 200, twirp_code: 'ok', error_code: null, trace_id: `t${at}`.padEnd(32, '0'), sampled: false, ...over };
}

function interval(t0: number, t1: number, values: number[], over: Partial<Interval> = {}): Interval {
  const iv = emptyInterval(0, 'open', t0);
  iv.t1Ms = t1;
  for (const v of values) {
    iv.latency.recordValue(v);
    iv.serviceTime!.recordValue(Math.max(1, v - 100));
  }
  iv.counts.sent = iv.counts.completed = iv.counts.ok = values.length;
  iv.scheduled = values.length;
  iv.byStatus = { 200: values.length };
  iv.byTwirpCode = { ok: values.length };
  return Object.assign(iv, over);
}

test('an interval survives the wire: counts, maps, histograms and worst requests', () => {
  const iv = interval(0, 1000, [100, 250, 9_000, 1_500_000], {
    targetRate: 50, inFlight: 3, byErrorCode: { ECONNRESET: 2 },
    worst: { slowest: [req(10, 1500)], failed: [req(20, 3, { status: 503, twirp_code: 'unavailable' })] },
  });
  iv.scheduleLagUs!.recordValue(42);
  const wire = JSON.parse(JSON.stringify(encodeInterval(iv)));
  assert.equal(typeof wire.latency, 'string');
  const back = decodeInterval(wire);
  assert.deepEqual(back.counts, iv.counts);
  assert.deepEqual(back.byErrorCode, { ECONNRESET: 2 });
  assert.deepEqual(back.worst, iv.worst);
  assert.equal(back.latency.totalCount, 4);
  assert.equal(back.latency.getValueAtPercentile(100), iv.latency.getValueAtPercentile(100));
  assert.equal(back.latency.getValueAtPercentile(50), iv.latency.getValueAtPercentile(50));
  assert.equal(back.serviceTime!.totalCount, 4);
  assert.equal(back.scheduleLagUs!.totalCount, 1);
  assert.throws(() => decodeInterval({ ...wire, latency: 'not base64 of a histogram' }),
    (e: unknown) => e instanceof IntervalDecodeError && e.code === 'BENCH_INTERVAL_INVALID');
});

test('adding intervals equals recording everything into one (percentiles of parts are never averaged)', () => {
  const a = Array.from({ length: 900 }, (_, i) => 1000 + i);
  const b = Array.from({ length: 100 }, (_, i) => 200_000 + i * 10);
  const total = emptyInterval(0, 'open');
  addInterval(total, interval(0, 1000, a));
  addInterval(total, interval(1000, 2000, b));
  const one = newHistogram();
  for (const v of [...a, ...b]) one.recordValue(v);
  for (const p of [50, 90, 95, 99, 99.9]) assert.equal(total.latency.getValueAtPercentile(p), one.getValueAtPercentile(p), `p${p}`);
  assert.equal(total.counts.sent, 1000);
  assert.deepEqual(total.byStatus, { 200: 1000 });
  assert.equal(total.t0Ms, 0);
  assert.equal(total.t1Ms, 2000);
});

test('two workers\' intervals of the same slice add their in-flight and target; a later slice replaces them', () => {
  const merged = emptyInterval(0, 'open', 1000);
  addInterval(merged, interval(1000, 2000, [5], { inFlight: 2, targetRate: 25 }));
  addInterval(merged, interval(1000, 2000, [7], { inFlight: 3, targetRate: 25 }));
  assert.equal(merged.inFlight, 5);
  assert.equal(merged.targetRate, 50);
  addInterval(merged, interval(2000, 3000, [9], { inFlight: 1, targetRate: 60 }));
  assert.equal(merged.inFlight, 1);
  assert.equal(merged.targetRate, 60);
  assert.equal(merged.counts.sent, 3);
});

test('worst lists merge by rank: the n slowest, the n earliest failures, whatever the input order', () => {
  const p1 = { slowest: [req(5, 900), req(1, 300)], failed: [req(40, 1), req(50, 1)] };
  const p2 = { slowest: [req(7, 500), req(9, 100)], failed: [req(10, 1)] };
  const m = mergeWorst([p1, p2], 3);
  assert.deepEqual(m.slowest.map((r) => r.latency_ms), [900, 500, 300]);
  assert.deepEqual(m.failed.map((r) => r.at_ms), [10, 40, 50]);
  assert.deepEqual(mergeWorst([p2, p1], 3), m);
});
