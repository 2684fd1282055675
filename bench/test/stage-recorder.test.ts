import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StageRecorder } from '../src/metrics/stage-recorder';
import { addInterval, emptyInterval, type Interval } from '../src/metrics/interval';

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

test('intervals are deltas whose sum is the stage: counts, maps and histograms', async () => {
  const r = new StageRecorder({ name: 's', model: 'open', index: 2, startedAt: 0 });
  const cuts = [];
  let us = 100;
  for (let second = 0; second < 3; second++) {
    for (let i = 0; i < 100 * (second + 1); i++) {
      r.onSent(10);
      r.onScheduleLag(5);
      if (i % 10 === 0) r.onResponse(503, 'unavailable', 0, (us += 7), us / 2);
      else r.onResponse(200, 'ok', 0, (us += 7), us / 2);
    }
    r.onDropped();
    r.onSocketError('ECONNRESET', true);
    cuts.push(r.interval((second + 1) * 1000, 100, 100 * (second + 1) * (second + 2) / 2 + 2 * (second + 1)));
  }
  assert.deepEqual(cuts.map((c) => c.counts.sent), [100, 200, 300]);
  assert.deepEqual(cuts.map((c) => c.counts.dropped), [1, 1, 1]);
  assert.deepEqual(cuts.map((c) => [c.t0Ms, c.t1Ms]), [[0, 1000], [1000, 2000], [2000, 3000]]);
  assert.deepEqual(cuts.map((c) => c.scheduled), [102, 202, 302]);
  assert.deepEqual(cuts[1].byStatus, { 200: 180, 503: 20 });
  assert.deepEqual(cuts[1].byErrorCode, { ECONNRESET: 1 });
  assert.ok(cuts.every((c) => c.stage === 2 && c.targetRate === 100 && c.scheduleLagUs?.totalCount === c.counts.sent));
  const sum = emptyInterval(2, 'open');
  for (const c of cuts) addInterval(sum, c);
  const res = r.result(100);
  assert.deepEqual(sum.counts, res.counts);
  assert.deepEqual(sum.byStatus, res.by_status);
  assert.deepEqual(sum.byTwirpCode, res.by_twirp_code);
  assert.equal(sum.latency.totalCount, 600);
  const pct = (p: number) => Math.round(Math.min(sum.latency.getValueAtPercentile(p), sum.latency.maxValue)) / 1000;
  assert.equal(res.latency_ms.p50, pct(50));
  assert.equal(res.latency_ms.p99, pct(99));
  assert.equal(res.latency_ms.max, sum.latency.maxValue / 1000);
  assert.equal(r.intervalCount, 3); // nothing new since the last cut: result() cut none
});

test('result() cuts what was recorded after the last interval, so nothing is left out', () => {
  const r = new StageRecorder({ name: 's', model: 'closed', startedAt: 0 });
  r.onSent(1);
  r.onResponse(200, 'ok', 0, 1000);
  r.interval(1000, null);
  r.onSent(1);
  r.onResponse(200, 'ok', 0, 5000);
  const res = r.result(null);
  assert.equal(res.latency_ms.max, 5);
  assert.equal(res.counts.completed, 2);
  assert.equal(r.intervalCount, 2);
});

test('keeps the slowest N and the first N failed, reading trace ids only for those kept', () => {
  const r = new StageRecorder({ name: 's', model: 'open', startedAt: 0, worstN: 3 });
  let reads = 0;
  const ev = (id: number, sampled = false) => ({
    traceId: () => { reads++; return id.toString(16).padStart(32, '0'); },
    sampled: () => sampled,
  });
  // 1000 answers with rising latency in the first half, falling in the second: only a few become candidates
  for (let i = 0; i < 1000; i++) {
    const us = i < 500 ? 1000 + i : 1000 + (1000 - i);
    r.onSent(1);
    r.onResponse(200, 'ok', 0, us, us, i, ev(i, i === 499));
  }
  r.onResponse(503, 'unavailable', 0, 700, 600, 1000, ev(1000));
  r.onTimeout(1001, 5_000_000, ev(1001));
  r.onSocketError('ECONNRESET', true, 1002, 30, ev(1002));
  r.onSocketError('ECONNRESET', true, 1003, 30, ev(1003)); // the fourth failure: not kept
  r.onSocketError('EPIPE', false); // an idle connection's error is no failed request
  const first = r.interval(1500, 10);
  // answers only (a timeout is a failure, not an answer); ties in order of time
  assert.deepEqual(first.worst?.slowest.map((x) => [x.latency_ms, x.at_ms]), [[1.5, 500], [1.499, 499], [1.499, 501]]);
  const res = r.result(10);
  const w = res.worst!;
  assert.deepEqual(w, first.worst);
  assert.equal(w.slowest[1].sampled, true);
  assert.equal(w.slowest[0].sampled, false);
  assert.equal(w.slowest[1].trace_id, (499).toString(16).padStart(32, '0'));
  assert.deepEqual(w.failed.map((x) => [x.at_ms, x.status, x.twirp_code, x.error_code]), [
    [1000, 503, 'unavailable', null], [1001, 0, null, 'BENCH_REQUEST_TIMEOUT'], [1002, 0, null, 'ECONNRESET'],
  ]);
  assert.equal(w.failed[1].latency_ms, 5000);
  // 3 to fill + those that beat the floor while it rose (the first half) + 3 failures: never one per request
  assert.ok(reads <= 510, `trace ids read ${reads}`);
});
