// Threshold expressions: parsing (units, "of target", keyed counts), errors, and evaluation on stage results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateStages, evaluate, failedEarly, parseThreshold, subjectFromStage, type Threshold } from '../src/metrics/thresholds';
import type { StageResult } from '../src/types';

function parsed(expr: string): Threshold {
  const t = parseThreshold(expr);
  assert.ok(!('error' in t), `${expr}: ${'error' in t ? t.error : ''}`);
  return t;
}

function stage(over: Partial<StageResult> = {}): StageResult {
  return {
    name: 's', model: 'open', started_at: '', ended_at: '', duration_ms: 10_000,
    counts: { sent: 1000, completed: 990, ok: 980, errors: 20, timeouts: 10, dropped: 5 },
    rate: { target: 100, achieved: 98 },
    latency_ms: { p50: 1.5, p90: 4, p99: 12.25, p999: 40, max: 90, mean: 2 },
    service_time_ms: { p50: 1, p90: 2, p99: 5, p999: 9, max: 20, mean: 1.2 },
    by_status: { '200': 980, '503': 10 }, by_twirp_code: { unavailable: 10 }, by_error_code: { ECONNRESET: 0 },
    bytes: { sent: 0, received: 0 },
    ...over,
  };
}

test('parses metrics, operators and units into canonical values', () => {
  assert.deepEqual(parsed('p99 < 50ms').metric, { kind: 'latency', key: 'p99', service: false });
  assert.equal(parsed('p99 < 50ms').value, 50);
  assert.equal(parsed('p99.9 <= 1.5s').value, 1500);
  assert.equal(parsed('p50<=250us').value, 0.25);
  assert.equal(parsed('max < 20').value, 20);
  assert.equal(parsed('error_rate < 1%').value, 0.01);
  assert.equal(parsed('error_rate < 0.02').value, 0.02);
  assert.deepEqual(parsed('achieved_rate >= 99% of target').metric, { kind: 'achieved_rate', ofTarget: true });
  assert.equal(parsed('achieved_rate >= 99% of target').value, 0.99);
  assert.equal(parsed('achieved_rate > 500req/s').value, 500);
  assert.deepEqual(parsed('twirp[unavailable] == 0').metric, { kind: 'keyed', family: 'twirp', key: 'unavailable' });
  assert.deepEqual(parsed('service_p99 < 5ms').metric, { kind: 'latency', key: 'p99', service: true });
  assert.equal(parsed('  dropped == 0 ').expr, 'dropped == 0');
  assert.equal(parsed('timeouts != 3').op, '!=');
});

test('rejects malformed expressions with a reason', () => {
  const bad: [string, RegExp][] = [
    ['p99 50ms', /expected "<metric> <op> <value>"/],
    ['p98 < 5ms', /unknown metric "p98"/],
    ['p99 < 5%', /time unit/],
    ['error_rate < 5ms', /fraction/],
    ['error_rate < 150%', /between 0 and 1/],
    ['dropped == 1.5', /whole number/],
    ['dropped == 1ms', /plain number/],
    ['p99 < fast', /cannot read the value/],
    ['error_rate < 1% of target', /cannot read the value/],
  ];
  for (const [expr, re] of bad) {
    const t = parseThreshold(expr);
    assert.ok('error' in t, expr);
    assert.match(t.error, re, expr);
  }
  assert.ok('error' in parseThreshold(42));
});

test('evaluates against a stage: latency, rates, counts, keyed counts, of-target', () => {
  const s = subjectFromStage(stage());
  const check = (expr: string) => evaluate(parsed(expr), s);
  assert.deepEqual(check('p99 < 12.25ms'), { value: 12.25, passed: false });
  assert.deepEqual(check('p99 <= 12.25ms'), { value: 12.25, passed: true });
  assert.deepEqual(check('service_p99 < 6ms'), { value: 5, passed: true });
  // 10 error answers + 10 timeouts (errors counts both) out of 1000 sent
  assert.deepEqual(check('error_rate < 1%'), { value: 0.02, passed: false });
  assert.deepEqual(check('error_rate < 2.5%'), { value: 0.02, passed: true });
  assert.deepEqual(check('timeout_rate <= 1%'), { value: 0.01, passed: true });
  assert.equal(check('dropped_rate < 1%')!.value, 5 / 1005);
  assert.deepEqual(check('achieved_rate >= 99% of target'), { value: 0.98, passed: false });
  assert.deepEqual(check('achieved_rate >= 98% of target'), { value: 0.98, passed: true });
  assert.deepEqual(check('dropped == 0'), { value: 5, passed: false });
  assert.deepEqual(check('status[503] <= 10'), { value: 10, passed: true });
  assert.deepEqual(check('twirp[internal] == 0'), { value: 0, passed: true });
  // no server counts on this stage: the threshold does not apply
  assert.equal(check('disagreements == 0'), null);
});

test('"of target" does not apply to closed-model stages; run aggregate adds counts and takes worst latency', () => {
  const closed = stage({ name: 'c', model: 'closed', rate: { target: null, achieved: 400 }, service_time_ms: undefined });
  assert.equal(evaluate(parsed('achieved_rate >= 99% of target'), subjectFromStage(closed)), null);
  const a = stage({ name: 'a', duration_ms: 10_000, rate: { target: 100, achieved: 100 } });
  const b = stage({ name: 'b', duration_ms: 30_000, rate: { target: 200, achieved: 180 }, latency_ms: { ...stage().latency_ms, p99: 30 } });
  const run = aggregateStages([a, b]);
  assert.equal(run.counts.sent, 2000);
  assert.equal(run.latency.p99, 30);
  assert.equal(run.targetRate, (100 * 10 + 200 * 30) / 40);
  assert.equal(run.achievedRate, (100 * 10 + 180 * 30) / 40);
  assert.deepEqual(run.byStatus, { '200': 1960, '503': 20 });
  const withServer = aggregateStages([
    stage({ server: { requests: 1, by_twirp_code: {}, disagreements: ['x', 'y'] } }),
    stage({ server: { requests: 1, by_twirp_code: {}, disagreements: [] } }),
  ]);
  assert.deepEqual(evaluate(parsed('disagreements == 0'), withServer), { value: 2, passed: false });
});

test('early verdicts for abortOnFail: counts past their bound at once, rates and latency from half-way, never achieved_rate', () => {
  const s = subjectFromStage(stage());
  assert.equal(failedEarly(parsed('dropped == 0'), s, 0.01), 5);
  assert.equal(failedEarly(parsed('dropped == 9'), s, 0.9), null, 'may still reach 9');
  assert.equal(failedEarly(parsed('timeouts < 10'), s, 0.01), 10);
  assert.equal(failedEarly(parsed('timeouts <= 10'), s, 0.99), null);
  assert.equal(failedEarly(parsed('ok > 5000'), s, 0.99), null, 'a lower bound on a count can still be reached');
  assert.equal(failedEarly(parsed('error_rate < 1%'), s, 0.4), null, 'too early');
  assert.equal(failedEarly(parsed('error_rate < 1%'), s, 0.5), 0.02);
  assert.equal(failedEarly(parsed('p99 < 10ms'), s, 0.6), 12.25);
  assert.equal(failedEarly(parsed('service_p99 < 1ms'), s, 0.9), null);
  assert.equal(failedEarly(parsed('achieved_rate >= 99% of target'), s, 0.9), null);
  const few = subjectFromStage(stage({ counts: { sent: 50, completed: 50, ok: 40, errors: 10, timeouts: 0, dropped: 0 } }));
  assert.equal(failedEarly(parsed('error_rate < 1%'), few, 0.9), null, 'too few requests to judge a rate');
});
