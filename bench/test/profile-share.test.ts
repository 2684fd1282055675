// Splitting a profile over N workers: for every shipped profile and a few ramps of our own, over many N, the
// integer shares sum exactly to the stage's figures and the union of the workers' open-model arrivals (each
// walking the one global schedule, ramps included) is the one-process schedule, arrival for arrival.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StageSpec } from '../src/types';
import { loadProfile, shippedProfileNames } from '../src/profiles/index';
import { ArrivalSchedule } from '../src/executors/arrival-schedule';
import { ownedBefore, WHOLE } from '../src/segment';
import { arrivalTimes, stageShare } from '../src/distributed/profile-share';

const COUNTS = [1, 2, 3, 4, 5, 7, 8, 12, 16, 64];

const extra: StageSpec[] = [
  { name: 'closed-ramp-up', durationMs: 10_000, model: 'closed', connections: 5, rampTo: 403, thresholds: [] },
  { name: 'closed-ramp-down', durationMs: 10_000, model: 'closed', connections: 400, rampTo: 1, thresholds: [] },
  { name: 'open-ramp-up', durationMs: 7_500, model: 'open', rate: 3.5, rampTo: 777.7, maxInFlight: 100, maxConnections: 100, thresholds: [] },
  { name: 'open-ramp-to-zero', durationMs: 4_000, model: 'open', rate: 250, rampTo: 0, maxInFlight: 37, maxConnections: 11, thresholds: [] },
  { name: 'open-slow', durationMs: 9_000, model: 'open', rate: 0.7, maxInFlight: 3, maxConnections: 3, thresholds: [] },
];

function stages(): StageSpec[] {
  return [...shippedProfileNames().flatMap((n) => loadProfile(n).profile.stages), ...extra];
}

test('integer shares sum exactly to every stage\'s connections, rampTo, maxInFlight and maxConnections', () => {
  for (const spec of stages()) {
    for (const count of COUNTS) {
      const shares = Array.from({ length: count }, (_, index) => stageShare(spec, { index, count }));
      const sum = (k: 'connections' | 'rampTo' | 'maxInFlight' | 'maxConnections') => shares.reduce((a, s) => a + (s[k] ?? 0), 0);
      if (spec.model === 'closed') {
        assert.equal(sum('connections'), spec.connections, `${spec.name} over ${count}`);
        if (spec.rampTo !== undefined) assert.equal(sum('rampTo'), spec.rampTo, `${spec.name} rampTo over ${count}`);
        const c = shares.map((s) => s.connections!);
        assert.ok(Math.max(...c) - Math.min(...c) <= 1, `${spec.name} over ${count}: ${c}`);
      } else {
        // every worker keeps at least one slot, so the parts sum exactly while there are enough to go round
        if (count <= spec.maxInFlight!) assert.equal(sum('maxInFlight'), spec.maxInFlight, `${spec.name} maxInFlight over ${count}`);
        assert.ok(shares.every((s) => s.maxInFlight! >= 1));
        if (count <= spec.maxConnections!) assert.equal(sum('maxConnections'), spec.maxConnections, `${spec.name} maxConnections over ${count}`);
        assert.ok(shares.every((s) => s.maxConnections! >= 1));
        assert.ok(Math.abs(shares.reduce((a, s) => a + s.rate!, 0) - spec.rate!) < 1e-3 * count);
      }
    }
  }
});

test('the union of the workers\' open-model arrivals is the one-process schedule, ramps included', () => {
  let checked = 0;
  for (const spec of stages()) {
    if (spec.model !== 'open') continue;
    const single = arrivalTimes(spec, WHOLE);
    const planned = new ArrivalSchedule(spec.rate!, spec.rampTo, spec.durationMs).dueBy(spec.durationMs);
    assert.equal(single.length, planned, `${spec.name}: the walk and the schedule agree on the count`);
    for (const count of COUNTS) {
      const parts = Array.from({ length: count }, (_, index) => arrivalTimes(spec, { index, count }));
      parts.forEach((p, index) => {
        // what each worker reports as scheduled at the stage's end is exactly its part of the plan
        assert.equal(p.length, ownedBefore(planned, { index, count }), `${spec.name}: worker ${index} of ${count}`);
        for (let i = 1; i < p.length; i++) assert.ok(p[i]! >= p[i - 1]!, `${spec.name}: worker ${index} fires in order`);
      });
      const union = parts.flat().sort((a, b) => a - b);
      assert.deepEqual(union, single, `${spec.name} over ${count}`);
      checked++;
    }
  }
  assert.ok(checked >= 10 * COUNTS.length, `checked ${checked} (profile stage, N) pairs`);
});
