// The statistics behind a comparison of two runs: a percentile bootstrap over the per-second intervals of a
// stage (each second is one observation of the stage's behaviour) and a Mann-Whitney rank test on the same
// per-second values. Seeded, so the same two summaries always give the same verdict.

/** A small, fast, seedable PRNG (mulberry32): the bootstrap needs reproducible, not cryptographic, draws. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Interval {
  lo: number;
  hi: number;
}

export interface BootstrapOptions {
  resamples?: number;
  /** e.g. 0.95 */
  confidence?: number;
  seed?: number;
}

/** Quantile of sorted values, linear between order statistics. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Bootstrap of a two-sample statistic: `stat(a, b)` over `a` and `b` (arrays of observations of any shape, e.g.
 * one per second), resampling each side with replacement. Returns the central `confidence` interval of the
 * resampled statistic, or null when either side has fewer than two observations or no resample is finite.
 */
export function bootstrap<A, B>(
  a: A[], b: B[], stat: (a: A[], b: B[]) => number, opts: BootstrapOptions = {},
): Interval | null {
  const n = Math.min(Math.max(opts.resamples ?? 2000, 100), 100_000);
  const conf = opts.confidence ?? 0.95;
  if (a.length < 2 || b.length < 2) return null;
  const rand = rng(opts.seed ?? 1);
  const draws: number[] = [];
  const ra: A[] = new Array(a.length);
  const rb: B[] = new Array(b.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < a.length; j++) ra[j] = a[Math.floor(rand() * a.length)]!;
    for (let j = 0; j < b.length; j++) rb[j] = b[Math.floor(rand() * b.length)]!;
    const v = stat(ra, rb);
    if (Number.isFinite(v)) draws.push(v);
  }
  if (draws.length < n / 2) return null;
  draws.sort((x, y) => x - y);
  const tail = (1 - conf) / 2;
  return { lo: quantile(draws, tail), hi: quantile(draws, 1 - tail) };
}

/** Observations of a ratio of sums (rate = answers / seconds, error rate = errors / sent, a weighted mean). */
export interface RatioSample {
  num: Float64Array;
  den: Float64Array;
}

/**
 * `bootstrap` for statistics of the form f(sum(num) / sum(den) of a, the same of b), without allocating per
 * resample: the same draws in the same order as `bootstrap`, so the same seed gives the same interval, at a
 * fraction of the cost (an hour-long stage is 3600 observations a side, 2000 times).
 */
export function bootstrapRatioOfSums(
  a: RatioSample, b: RatioSample, combine: (ra: number, rb: number) => number, opts: BootstrapOptions = {},
): Interval | null {
  const n = Math.min(Math.max(opts.resamples ?? 2000, 100), 100_000);
  const conf = opts.confidence ?? 0.95;
  const na = a.num.length;
  const nb = b.num.length;
  if (na < 2 || nb < 2) return null;
  const rand = rng(opts.seed ?? 1);
  const draws: number[] = [];
  for (let i = 0; i < n; i++) {
    let an = 0, ad = 0, bn = 0, bd = 0;
    for (let j = 0; j < na; j++) { const k = Math.floor(rand() * na); an += a.num[k]!; ad += a.den[k]!; }
    for (let j = 0; j < nb; j++) { const k = Math.floor(rand() * nb); bn += b.num[k]!; bd += b.den[k]!; }
    const v = combine(an / ad, bn / bd);
    if (Number.isFinite(v)) draws.push(v);
  }
  if (draws.length < n / 2) return null;
  draws.sort((x, y) => x - y);
  const tail = (1 - conf) / 2;
  return { lo: quantile(draws, tail), hi: quantile(draws, 1 - tail) };
}

export interface RankTest {
  u: number;
  /** two-sided p-value */
  p: number;
}

/**
 * Mann-Whitney U (Wilcoxon rank-sum), two-sided: exact distribution for small samples without ties, else the
 * normal approximation with tie and continuity corrections. Null when either side is empty.
 */
export function mannWhitney(a: number[], b: number[]): RankTest | null {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return null;
  const all = [...a.map((v) => ({ v, g: 0 })), ...b.map((v) => ({ v, g: 1 }))].sort((x, y) => x.v - y.v);
  const ranks = new Array<number>(all.length);
  let tieTerm = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.v === all[i]!.v) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  let r1 = 0;
  all.forEach((x, i) => { if (x.g === 0) r1 += ranks[i]!; });
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = Math.min(u1, n1 * n2 - u1);
  if (tieTerm === 0 && n1 + n2 <= 40) return { u, p: Math.min(1, 2 * exactCdf(u, n1, n2)) };
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, p: 1 };
  const z = (Math.abs(u1 - mean) - 0.5) / Math.sqrt(variance);
  return { u, p: Math.min(1, 2 * (1 - normalCdf(Math.max(0, z)))) };
}

/** P(U <= u) under the null, by counting (the number of ways to reach each U with n1 of n1+n2 ranks). */
function exactCdf(u: number, n1: number, n2: number): number {
  // f[i][j][k]: arrangements of i from sample 1 and j from sample 2 with U = k; rolled over j.
  const max = n1 * n2;
  let prev: number[][] = [];
  for (let i = 0; i <= n1; i++) { prev.push(new Array(max + 1).fill(0)); prev[i]![0] = 1; }
  for (let j = 1; j <= n2; j++) {
    const cur: number[][] = [];
    for (let i = 0; i <= n1; i++) {
      const row = new Array(max + 1).fill(0);
      for (let k = 0; k <= max; k++) {
        // the largest element is from sample 2 (adds nothing to U1) or from sample 1 (adds j)
        let v = prev[i]![k]!;
        if (i > 0 && k - j >= 0) v += cur[i - 1]![k - j]!;
        row[k] = v;
      }
      cur.push(row);
    }
    prev = cur;
  }
  const counts = prev[n1]!;
  const total = counts.reduce((s, c) => s + c, 0);
  let acc = 0;
  for (let k = 0; k <= Math.floor(u); k++) acc += counts[k]!;
  return acc / total;
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 through erf; error below 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}
