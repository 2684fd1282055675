import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSegment, ownedBefore, ownsArrival, segmentProblems, segmentSeed, SegmentError, shareOf, split, WHOLE } from '../src/segment';

test('integer shares sum exactly, the first n mod N workers taking one more', () => {
  assert.deepEqual(split(5, 3), [2, 2, 1]);
  assert.deepEqual(split(2, 3), [1, 1, 0]);
  assert.deepEqual(split(0, 4), [0, 0, 0, 0]);
  assert.deepEqual(split(7, 1), [7]);
  for (let n = 0; n <= 60; n++) {
    for (let count = 1; count <= 9; count++) {
      const parts = split(n, count);
      assert.equal(parts.reduce((a, b) => a + b, 0), n, `${n} over ${count}`);
      assert.ok(Math.max(...parts) - Math.min(...parts) <= 1, `${n} over ${count}: ${parts}`);
    }
  }
});

test('arrivals are striped: every global arrival belongs to exactly one worker', () => {
  for (const count of [1, 2, 3, 7]) {
    const owners = new Array<number>(100).fill(0);
    for (let index = 0; index < count; index++) {
      for (let i = 0; i < 100; i++) if (ownsArrival(i, { index, count })) owners[i]++;
    }
    assert.ok(owners.every((n) => n === 1), `count ${count}`);
  }
  // of arrivals 0..9, worker 1 of 3 owns 1, 4, 7
  assert.equal(ownedBefore(10, { index: 1, count: 3 }), 3);
  assert.equal(ownedBefore(10, { index: 0, count: 3 }), 4);
  assert.equal(ownedBefore(0, { index: 0, count: 3 }), 0);
  assert.equal(ownedBefore(10, WHOLE), 10);
});

test('a bad segment is refused with every problem and a stable code', () => {
  assert.deepEqual(segmentProblems({ index: 0, count: 1 }), []);
  assert.equal(segmentProblems({ index: 3, count: 3 }).length, 1);
  assert.equal(segmentProblems({ index: -1, count: 0 }).length, 2);
  assert.equal(segmentProblems({ index: 0.5, count: 2 }).length, 1);
  assert.throws(() => checkSegment({ index: 2, count: 2 }), (e: unknown) => e instanceof SegmentError && e.code === 'BENCH_SEGMENT_INVALID');
  assert.equal(checkSegment(undefined), WHOLE);
  assert.equal(shareOf(10, checkSegment(undefined)), 10);
});

test('worker 0 keeps the profile seed; the others get distinct seeds', () => {
  assert.equal(segmentSeed(42, { index: 0, count: 4 }), 42);
  const seeds = new Set([0, 1, 2, 3].map((index) => segmentSeed(42, { index, count: 4 })));
  assert.equal(seeds.size, 4);
});
