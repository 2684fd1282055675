// Clock offsets from round trips: the sample with the smallest round trip wins and the estimate is within half of
// it; a start time is never reached early.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockNow, ClockSyncError, estimateOffset, toCoordinatorClock, toWorkerClock, waitUntil } from '../src/distributed/clock-sync';

test('the offset comes from the round trip with the smallest RTT, within RTT/2 of the truth', () => {
  const trueOffset = 1234.5; // worker clock ahead by this
  // legs of different lengths: queueing only ever adds delay
  const legs: [number, number][] = [[5, 40], [0.3, 0.2], [12, 1], [0.4, 3]];
  let t = 1_000_000;
  const samples = legs.map(([out, back]) => {
    const sentAt = t;
    const workerAt = sentAt + out + trueOffset;
    const receivedAt = sentAt + out + back;
    t += 100;
    return { sentAt, workerAt, receivedAt };
  });
  const est = estimateOffset(samples);
  assert.equal(est.rttMs, 0.5);
  assert.ok(Math.abs(est.offsetMs - trueOffset) <= est.rttMs / 2, `${est.offsetMs}`);
  assert.equal(est.samples, 4);
  assert.equal(toCoordinatorClock(toWorkerClock(5000, est), est), 5000);
  // a sample whose clock stepped back is ignored; none usable is an error with a stable code
  assert.equal(estimateOffset([{ sentAt: 10, workerAt: 0, receivedAt: 5 }, ...samples]).rttMs, 0.5);
  assert.throws(() => estimateOffset([{ sentAt: 10, workerAt: 0, receivedAt: 5 }]), (e: unknown) => e instanceof ClockSyncError && e.code === 'BENCH_CLOCK_SYNC_FAILED');
});

test('waitUntil never resolves before its time, resolves at once on abort, and refuses a time too far away', async () => {
  for (const ahead of [0, 3, 17, 60]) {
    const at = clockNow() + ahead;
    await waitUntil(at);
    assert.ok(clockNow() >= at, `${ahead} ms ahead`);
  }
  const ac = new AbortController();
  const far = clockNow() + 60_000;
  setTimeout(() => ac.abort(), 5);
  await waitUntil(far, ac.signal);
  assert.ok(clockNow() < far);
  await assert.rejects(waitUntil(clockNow() + 10_000, undefined, 1_000), ClockSyncError);
});
