import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StageRecorder } from '../src/metrics/stage-recorder';

test('counts every outcome once and derives errors, in-flight and rates', () => {
  const r = new StageRecorder({ name: 's', model: 'closed', startedAt: 0 });
  for (let i = 0; i < 10; i++) r.onSent(100);
  r.onResponse(200, 'ok', 50, 1000);
  r.onResponse(200, 'ok', 50, 3000);
  r.onResponse(503, 'unavailable', 60, 2000);
  r.onResponse(400, 'invalid_argument', 60, 2000);
  r.onSocketError('ECONNRESET', true);
  r.onSocketError('ECONNREFUSED', false);
  r.onTimeout();
  r.onDropped();
  assert.equal(r.inFlight, 10 - 4 - 1 - 1);
  r.end(2000);
  const res = r.result(null);
  assert.deepEqual(res.counts, { sent: 10, completed: 4, ok: 2, errors: 4, timeouts: 1, dropped: 1 });
  assert.deepEqual(res.by_status, { 200: 2, 503: 1, 400: 1 });
  assert.deepEqual(res.by_twirp_code, { ok: 2, unavailable: 1, invalid_argument: 1 });
  assert.deepEqual(res.by_error_code, { ECONNRESET: 1, ECONNREFUSED: 1 });
  assert.deepEqual(res.bytes, { sent: 1000, received: 220 });
  assert.equal(res.duration_ms, 2000);
  assert.equal(res.rate.achieved, 2); // 4 answers in 2 s
  assert.equal(res.rate.target, null);
  assert.equal(res.service_time_ms, undefined);
  assert.equal(res.latency_ms.mean, 2);
  assert.equal(res.latency_ms.max, 3);
});

test('latency keeps microsecond resolution (no collapse of sub-ms values)', () => {
  const r = new StageRecorder({ name: 's', model: 'open', startedAt: 0 });
  for (let i = 0; i < 1000; i++) {
    r.onSent(10);
    r.onResponse(200, 'ok', 0, 250 + (i % 10), 120); // 0.250..0.259 ms
  }
  const res = r.result(500);
  assert.ok(res.latency_ms.p50 >= 0.25 && res.latency_ms.p50 <= 0.26, `p50 ${res.latency_ms.p50}`);
  assert.ok(Math.abs(res.latency_ms.mean - 0.2545) <= 0.001, `mean ${res.latency_ms.mean}`);
  assert.equal(res.latency_ms.max, 0.259);
  assert.ok(res.service_time_ms);
  assert.equal(res.service_time_ms.p50, 0.12);
  assert.equal(res.rate.target, 500);
});

test('percentiles follow the recorded distribution', () => {
  const r = new StageRecorder({ name: 's', model: 'closed', startedAt: 0 });
  // 1..10000 ms uniformly: p50 ~ 5000, p90 ~ 9000, p99 ~ 9900, p99.9 ~ 9990
  for (let ms = 1; ms <= 10000; ms++) r.onResponse(200, 'ok', 0, ms * 1000);
  const l = r.result(null).latency_ms;
  const near = (got: number, want: number) => assert.ok(Math.abs(got - want) / want < 0.002, `${got} vs ${want}`);
  near(l.p50, 5000); near(l.p90, 9000); near(l.p99, 9900); near(l.p999, 9990);
  assert.equal(l.max, 10000);
  near(l.mean, 5000.5);
});

test('snapshot buckets are cumulative Prometheus buckets ending in +Inf', () => {
  const r = new StageRecorder({ name: 's', model: 'closed', startedAt: 0 });
  r.onResponse(200, 'ok', 0, 800); // 0.8 ms
  r.onResponse(200, 'ok', 0, 40_000); // 40 ms
  r.onResponse(200, 'ok', 0, 90_000_000); // 90 s, beyond the last finite bucket
  const s = r.snapshot(100, 1000);
  assert.equal(s.latencyCount, 3);
  assert.ok(Math.abs(s.latencySumSeconds - 90.0408) < 1e-9);
  const at = (le: number) => s.latencyBuckets.find((b) => b.le === le)?.count;
  assert.equal(at(0.0005), 0);
  assert.equal(at(0.001), 1);
  assert.equal(at(0.05), 2);
  assert.equal(at(60), 2);
  assert.equal(at(Number.POSITIVE_INFINITY), 3);
  for (let i = 1; i < s.latencyBuckets.length; i++) {
    assert.ok(s.latencyBuckets[i].count >= s.latencyBuckets[i - 1].count);
  }
  assert.equal(s.elapsedMs, 1000);
  assert.equal(s.achievedRate, 3);
  assert.equal(s.targetRate, 100);
});

test('an empty stage summarises to zeros, not NaN', () => {
  const r = new StageRecorder({ name: 'empty', model: 'open', startedAt: 0 });
  r.end(1000);
  const res = r.result(0);
  assert.deepEqual(res.latency_ms, { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
  assert.equal(res.rate.achieved, 0);
});
