// The comparison's statistics against known answers: Mann-Whitney p-values as scipy.stats.mannwhitneyu 1.17
// computes them (exact and asymptotic with continuity correction), and a bootstrap interval that covers the true
// difference about as often as it claims to, and is the same every time for the same seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, bootstrapRatioOfSums, mannWhitney, normalCdf, quantile, rng } from '../src/report/compare-stats';

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('Mann-Whitney p-values match scipy (exact for small samples without ties, else asymptotic)', () => {
  near(mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])!.p, 0.007936507936507936, 1e-12, 'separated 5 vs 5');
  near(mannWhitney([1, 2, 3], [1.5, 2.5, 3.5])!.p, 0.7, 1e-12, 'interleaved');
  near(mannWhitney([3.1, 2.2, 5.5, 4.0, 1.1, 6.3, 2.8], [4.4, 6.6, 7.7, 5.1, 8.2, 3.3])!.p, 0.05128205128205128, 1e-12, '7 vs 6');
  const a = Array.from({ length: 30 }, (_, i) => i);
  near(mannWhitney(a, a.map((x) => x + 5))!.p, 0.04274735330571392, 1e-6, '30 vs 30 (normal)');
  near(mannWhitney([1, 1, 2, 2, 3, 3, 4], [2, 3, 3, 4, 4, 5, 5, 6])!.p, 0.029239238256098945, 1e-6, 'ties (normal)');
  assert.equal(mannWhitney([], [1]), null);
  assert.equal(mannWhitney([2, 2, 2], [2, 2, 2])!.p, 1);
  near(normalCdf(1.959964), 0.975, 1e-6, 'normal cdf');
});

test('the bootstrap interval covers the true difference about 95% of the time, and is reproducible', () => {
  const rand = rng(42);
  // gaussian-ish by summing uniforms; the true difference of means is 2
  const draw = (mean: number, n: number) => Array.from({ length: n }, () => mean + (rand() + rand() + rand() + rand() - 2) * 3);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  let covered = 0;
  const trials = 200;
  for (let t = 0; t < trials; t++) {
    const iv = bootstrap(draw(10, 30), draw(12, 30), (x, y) => mean(y) - mean(x), { resamples: 500, seed: t + 1 })!;
    if (iv.lo <= 2 && 2 <= iv.hi) covered++;
  }
  // the percentile bootstrap under-covers a little at n = 30; far from 95% would mean a broken resampler
  assert.ok(covered >= trials * 0.86 && covered <= trials * 0.99, `covered ${covered} of ${trials}`);
  const a = [1, 2, 3, 4, 5, 6];
  const b = [2, 3, 4, 5, 6, 9];
  const f = (x: number[], y: number[]) => mean(y) - mean(x);
  assert.deepEqual(bootstrap(a, b, f, { seed: 7 }), bootstrap(a, b, f, { seed: 7 }));
  assert.notDeepEqual(bootstrap(a, b, f, { seed: 7 }), bootstrap(a, b, f, { seed: 8 }));
  assert.equal(bootstrap([1], b, f), null, 'one observation has no spread');
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
});

test('the ratio-of-sums bootstrap draws exactly what the general one draws', () => {
  const rand = rng(3);
  const sec = (rate: number) => Array.from({ length: 40 }, () => ({ n: rate * (0.8 + 0.4 * rand()), d: 0.9 + 0.2 * rand() }));
  const a = sec(100);
  const b = sec(120);
  const ratio = (xs: { n: number; d: number }[]) => xs.reduce((s, x) => s + x.n, 0) / xs.reduce((s, x) => s + x.d, 0);
  const general = bootstrap(a, b, (x, y) => Math.log(ratio(y) / ratio(x)), { seed: 11, resamples: 500 })!;
  const fast = bootstrapRatioOfSums(
    { num: Float64Array.from(a, (x) => x.n), den: Float64Array.from(a, (x) => x.d) },
    { num: Float64Array.from(b, (x) => x.n), den: Float64Array.from(b, (x) => x.d) },
    (x, y) => Math.log(y / x), { seed: 11, resamples: 500 },
  )!;
  near(fast.lo, general.lo, 1e-12, 'lo');
  near(fast.hi, general.hi, 1e-12, 'hi');
  assert.ok(fast.lo > 0, 'a 20% higher rate over 40 seconds is distinguishable');
});
