// Execution segments: worker `index` of `count` runs its part of every stage, and the parts add up exactly to
// the one-process run (k6's striping, lib/execution_segment.go).
// - Integers (closed-model connections and rampTo, open-model maxInFlight) split so the shares sum to the
//   whole: n over N gives floor(n / N) to each worker and one more to the first n mod N (5 over 3 = 2, 2, 1).
// - Open-model arrivals: every worker computes the one global schedule (ramps included) and fires arrival i
//   only when i mod N == index, so the union of the workers' arrivals is the one-process schedule, each at its
//   own intended time.
// - Request keys: each worker draws from its own stream, seeded from (seed, index).

export interface Segment {
  /** this worker, 0-based */
  index: number;
  /** how many workers share the load */
  count: number;
}

/** Most workers one run can have. */
export const MAX_SEGMENTS = 1000;

export const WHOLE: Segment = Object.freeze({ index: 0, count: 1 });

export class SegmentError extends Error {
  readonly code = 'BENCH_SEGMENT_INVALID';
}

/** Every problem with a segment at once (empty when valid). */
export function segmentProblems(seg: Segment): string[] {
  const p: string[] = [];
  if (!Number.isInteger(seg.count) || seg.count < 1 || seg.count > MAX_SEGMENTS) p.push(`segment count must be an integer in 1..${MAX_SEGMENTS}, got ${seg.count}`);
  if (!Number.isInteger(seg.index) || seg.index < 0 || (Number.isInteger(seg.count) && seg.index >= seg.count)) {
    p.push(`segment index must be an integer in 0..count-1, got ${seg.index} of ${seg.count}`);
  }
  return p;
}

/** The segment, checked (the whole load when absent). */
export function checkSegment(seg: Segment | undefined): Segment {
  if (seg === undefined) return WHOLE;
  const p = segmentProblems(seg);
  if (p.length > 0) throw new SegmentError(p.join('; '));
  return seg;
}

/** This worker's share of the integer `n` (n >= 0); the shares of all workers sum to n. */
export function shareOf(n: number, seg: Segment): number {
  return Math.floor(n / seg.count) + (seg.index < n % seg.count ? 1 : 0);
}

/** Every worker's share of `n`, in worker order. */
export function split(n: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => shareOf(n, { index, count }));
}

/** Whether this worker fires arrival `i` (0-based) of the global schedule. */
export function ownsArrival(i: number, seg: Segment): boolean {
  return i % seg.count === seg.index;
}

/** How many of the global arrivals 0..total-1 are this worker's. */
export function ownedBefore(total: number, seg: Segment): number {
  return total <= 0 ? 0 : shareOf(Math.ceil(total), seg);
}

/** The worker's own seed for request keys: the profile's seed itself for worker 0, so one process is unchanged. */
export function segmentSeed(seed: number, seg: Segment): number {
  if (seg.index === 0) return seed >>> 0;
  // golden-ratio step (Weyl sequence): distinct, well-spread seeds per worker
  return ((seed >>> 0) ^ Math.imul(seg.index, 0x9e3779b9)) >>> 0;
}
