// The Prometheus text reader: labels with escapes, special values, comments; sums by label.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheusText, PrometheusTextError, sum, sumBy } from '../src/target/prometheus-text';

const TEXT = `# HELP pageview_pushes_total Push requests answered.
# TYPE pageview_pushes_total counter
pageview_pushes_total{result="accepted",twirp_code="ok"} 120
pageview_pushes_total{result="rejected",twirp_code="invalid_argument"} 7
pageview_pushes_total{result="rejected",twirp_code="unavailable"} 3 1700000000000
weird{msg="a \\"quoted\\" \\\\ back\\nslash",x=""} -Inf
gauge_nan NaN
gauge_nan2 Nan
process_cpu_seconds_total 1.5e-3
http_server_request_duration_seconds_bucket{le="+Inf",http_route="/twirp/stats.StatsService/Push"} 130
`;

test('parses names, labels (with escapes), values and ignores comments and timestamps', () => {
  const s = parsePrometheusText(TEXT);
  assert.equal(s.length, 8);
  assert.deepEqual(s[0], { name: 'pageview_pushes_total', labels: { result: 'accepted', twirp_code: 'ok' }, value: 120 });
  assert.equal(s[2]!.value, 3);
  assert.deepEqual(s[3]!.labels, { msg: 'a "quoted" \\ back\nslash', x: '' });
  assert.equal(s[3]!.value, -Infinity);
  assert.ok(Number.isNaN(s[4]!.value));
  assert.ok(Number.isNaN(s[5]!.value), 'prom-client spells it Nan');
  assert.equal(s[6]!.value, 0.0015);
  assert.equal(s[7]!.labels.le, '+Inf');
});

test('sums by label and filters by labels', () => {
  const s = parsePrometheusText(TEXT);
  assert.equal(sum(s, 'pageview_pushes_total'), 130);
  assert.equal(sum(s, 'pageview_pushes_total', { result: 'rejected' }), 10);
  assert.equal(sum(s, 'absent_metric'), undefined);
  assert.deepEqual(sumBy(s, 'pageview_pushes_total', {}, 'twirp_code'), { ok: 120, invalid_argument: 7, unavailable: 3 });
});

test('a malformed line is an error naming the line', () => {
  assert.throws(() => parsePrometheusText('ok 1\nbad{x="1" 2\n'), (e: unknown) => e instanceof PrometheusTextError && /line 2/.test(e.message));
  assert.throws(() => parsePrometheusText('novalue\n'), PrometheusTextError);
  assert.throws(() => parsePrometheusText('x{a="1"} notanumber\n'), PrometheusTextError);
});
