// A stage's latency percentile spectrum (the HdrHistogram plot: latency against 1/(1-p) on a log axis) from the
// histogram summary.json carries as hdr-histogram-js `encodeIntoCompressedBase64`. Percentiles of a histogram
// are read from the histogram; they are never interpolated between summary figures.
import * as hdr from 'hdr-histogram-js';

export interface Spectrum {
  /** percentile, 0..100 */
  percentile: number[];
  /** 1 / (1 - p): the x axis of an HDR plot (1 = the median's left end, 1000 = p99.9) */
  x: number[];
  /** milliseconds */
  ms: number[];
  count: number;
  maxMs: number;
}

/** Ticks per decade of 1/(1-p): 10 gives p50 ~ 2, p90 = 10, p99 = 100 with nine points between each. */
const TICKS_PER_DECADE = 10;

/**
 * Decodes and walks the histogram; null when `encoded` is not a histogram. Values recorded in microseconds.
 * The walk stops at the percentile the count can resolve (1/(1-p) <= count), then adds the maximum.
 */
export function spectrumFromHdr(encoded: unknown): Spectrum | null {
  if (typeof encoded !== 'string' || encoded === '') return null;
  let h: hdr.Histogram;
  try {
    h = hdr.decodeFromCompressedBase64(encoded, 32, false);
  } catch {
    return null;
  }
  try {
    const count = h.totalCount;
    if (!(count > 0)) return { percentile: [], x: [], ms: [], count: 0, maxMs: 0 };
    const out: Spectrum = { percentile: [], x: [], ms: [], count, maxMs: h.maxValue / 1000 };
    for (let k = 0; k <= 70; k++) {
      const x = 10 ** (k / TICKS_PER_DECADE);
      if (x > count) break;
      const p = 100 * (1 - 1 / x);
      out.percentile.push(round(p, 6));
      out.x.push(round(x, 6));
      out.ms.push(round(Math.min(h.getValueAtPercentile(p), h.maxValue) / 1000, 3));
    }
    out.percentile.push(100);
    out.x.push(Math.max(count, out.x[out.x.length - 1] ?? 1));
    out.ms.push(round(h.maxValue / 1000, 3));
    return out;
  } finally {
    h.destroy();
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
