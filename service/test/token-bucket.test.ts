// The per-second budgets behind edge sampling, flush tracing and unsampled error capture.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../src/telemetry/tracing/token-bucket';

describe('TokenBucket', () => {
  it('allows a burst of perSecond, then refills with time', () => {
    let now = 0;
    const bucket = new TokenBucket(3, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
    now += 500; // half a second: 1.5 tokens
    assert.deepEqual([bucket.take(), bucket.take()], [true, false]);
    now += 10_000; // refill is capped at perSecond
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  });

  it('a zero budget never allows', () => {
    const bucket = new TokenBucket(0, () => 0);
    assert.equal(bucket.take(), false);
  });
});
