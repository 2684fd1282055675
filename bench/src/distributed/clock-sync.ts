// How far a worker's clock is from the coordinator's, from a few round trips (NTP's and Cristian's idea): the
// coordinator notes when it sent a ping (t0) and got the answer (t1) on its clock, the worker stamps the answer
// with its own clock (tw). If the two legs took equally long, tw was read at (t0 + t1) / 2 coordinator time, so
// offset = tw − (t0 + t1) / 2, with an error of at most RTT / 2. The round trip with the smallest RTT bounds the
// error best (queueing only ever adds delay), so that one is kept.

/** High-resolution wall clock in ms: the same epoch as Date.now(), sub-millisecond steps, never steps back. */
export function clockNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface ClockSample {
  /** coordinator clock when the ping left */
  sentAt: number;
  /** worker clock when it answered */
  workerAt: number;
  /** coordinator clock when the answer arrived */
  receivedAt: number;
}

export interface ClockEstimate {
  /** worker clock minus coordinator clock, ms */
  offsetMs: number;
  /** the round trip of the sample used; the offset is right within ± rttMs / 2 */
  rttMs: number;
  samples: number;
}

export class ClockSyncError extends Error {
  readonly code = 'BENCH_CLOCK_SYNC_FAILED';
}

export function estimateOffset(samples: readonly ClockSample[]): ClockEstimate {
  let best: ClockSample | null = null;
  let bestRtt = Number.POSITIVE_INFINITY;
  for (const s of samples) {
    const rtt = s.receivedAt - s.sentAt;
    if (!(rtt >= 0) || !Number.isFinite(s.workerAt)) continue; // a clock that stepped back mid-sample says nothing
    if (rtt < bestRtt) {
      bestRtt = rtt;
      best = s;
    }
  }
  if (!best) throw new ClockSyncError('no usable clock sample (every round trip was negative or invalid)');
  return { offsetMs: best.workerAt - (best.sentAt + best.receivedAt) / 2, rttMs: bestRtt, samples: samples.length };
}

/** A time on the coordinator's clock as the worker's clock reads it, and back. */
export function toWorkerClock(coordinatorMs: number, est: Pick<ClockEstimate, 'offsetMs'>): number {
  return coordinatorMs + est.offsetMs;
}

export function toCoordinatorClock(workerMs: number, est: Pick<ClockEstimate, 'offsetMs'>): number {
  return workerMs - est.offsetMs;
}

/**
 * Resolves at `atMs` on clockNow(): a timer for most of the wait (timers can fire a millisecond or more early
 * or late), then a few setImmediate turns for the last stretch, so every worker starts within a fraction of a
 * millisecond of its target. Bounded: at most `maxWaitMs` (rejects beyond it), and an abort resolves at once.
 */
export function waitUntil(atMs: number, signal?: AbortSignal, maxWaitMs = 24 * 3_600_000): Promise<void> {
  const wait = atMs - clockNow();
  if (wait > maxWaitMs) return Promise.reject(new ClockSyncError(`start time is ${Math.round(wait)} ms away, beyond ${maxWaitMs} ms`));
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', done, { once: true });
    const step = () => {
      timer = null;
      if (signal?.aborted) return;
      const left = atMs - clockNow();
      if (left <= 0) return done();
      if (left > 4) timer = setTimeout(step, left - 3);
      else setImmediate(step);
    };
    step();
  });
}
