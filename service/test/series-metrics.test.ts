// The series metrics expose exactly what prom-client's own Histogram and Counter expose for the same observations,
// so /metrics readers (the bench, Prometheus, the dashboards) cannot tell them apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram } from '../src/telemetry/series-metrics';

/** Sample lines with their labels sorted, so the two can be compared whatever the label order. */
function samples(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^([^{\s]+)(?:\{(.*)\})? (.+)$/.exec(l);
      if (l.startsWith('#') || m === null) return l;
      const labels = (m[2] ?? '').split(/,(?=[a-z_]+=")/).filter(Boolean).sort().join(',');
      return `${m[1]}{${labels}} ${m[3]}`;
    })
    .sort();
}

const BUCKETS = [0.001, 0.01, 0.1, 1];
const LABELS = ['method', 'code'] as const;
const OBSERVATIONS: Array<[string, string, number]> = [
  ['POST', 'ok', 0.0005],
  ['POST', 'ok', 0.001], // on a bound: counted in that bucket (le is inclusive)
  ['POST', 'ok', 0.05],
  ['POST', 'ok', 3], // above the last bound: only +Inf
  ['GET', 'none', 0.2],
  ['POST', 'invalid_argument', 0],
];

test('a series histogram and counter expose what prom-client exposes for the same values', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const h1 = new Histogram({ name: 'req_seconds', help: 'Requests.', labelNames: [...LABELS], buckets: BUCKETS, registers: [theirs] });
  const c1 = new Counter({ name: 'pushes_total', help: 'Pushes.', labelNames: [...LABELS], registers: [theirs] });
  const h2 = new SeriesHistogram({ name: 'req_seconds', help: 'Requests.', labelNames: LABELS, buckets: BUCKETS, registers: [ours] });
  const c2 = new SeriesCounter({ name: 'pushes_total', help: 'Pushes.', labelNames: LABELS, registers: [ours] });
  for (const [method, code, v] of OBSERVATIONS) {
    h1.observe({ method, code }, v);
    c1.inc({ method, code });
    h2.series({ method, code }).observe(v);
    c2.series({ method, code }).inc();
  }
  c1.inc({ method: 'POST', code: 'ok' }, 2.5);
  c2.series({ method: 'POST', code: 'ok' }).inc(2.5);
  const a = samples(await theirs.metrics());
  const b = samples(await ours.metrics());
  assert.ok(a.some((l) => l.startsWith('req_seconds_bucket{code="ok",le="+Inf",method="POST"} 4')), a.join('\n'));
  assert.deepEqual(b, a);
  assert.equal(ours.contentType, theirs.contentType);

  // resetMetrics zeroes both the same way except that prom-client drops its series while ours stay at zero:
  // what matters to readers is that no count survives a reset.
  ours.resetMetrics();
  const after = await ours.metrics();
  for (const line of after.split('\n').filter((l) => l.length > 0 && !l.startsWith('#'))) assert.match(line, / 0$/);
});

test('the same label values reach the same series; missing labels and bad values are refused', () => {
  const h = new SeriesHistogram({ name: 'x_seconds', help: 'x', labelNames: LABELS, buckets: BUCKETS, registers: [] });
  assert.equal(h.series({ method: 'POST', code: 'ok' }), h.series({ code: 'ok', method: 'POST' }));
  assert.notEqual(h.series({ method: 'POST', code: 'ok' }), h.series({ method: 'POST', code: 'o' }));
  assert.throws(() => h.series({ method: 'POST' } as never), /label code is missing/);
  assert.throws(() => h.series({ method: 'POST', code: 'ok' }).observe(Number.NaN), /finite/);
  const c = new SeriesCounter({ name: 'y_total', help: 'y', labelNames: LABELS, registers: [] });
  assert.throws(() => c.series({ method: 'POST', code: 'ok' }).inc(-1), />= 0/);
  assert.throws(() => new SeriesHistogram({ name: 'z', help: 'z', labelNames: [], buckets: [1, 1], registers: [] }), /distinct/);
});
