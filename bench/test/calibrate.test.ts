import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calibrate, formatCalibration, isHeld } from '../src/calibrate';
import type { StageResult } from '../src/types';

const result = (over: { target?: number; achieved?: number; dropped?: number; errors?: number; p99?: number }): StageResult => ({
  name: 'x', model: 'open', started_at: '', ended_at: '', duration_ms: 1000,
  counts: { sent: 1, completed: 1, ok: 1, errors: over.errors ?? 0, timeouts: 0, dropped: over.dropped ?? 0 },
  rate: { target: over.target ?? 1000, achieved: over.achieved ?? 1000 },
  latency_ms: { p50: 1, p90: 1, p99: over.p99 ?? 2, p999: 3, max: 4, mean: 1 },
  by_status: {}, by_twirp_code: {}, by_error_code: {}, bytes: { sent: 0, received: 0 },
});

test('a rate is held within 1% of its target, with nothing dropped, no errors and p99 below the floor', () => {
  assert.equal(isHeld(result({}), 10), true);
  assert.equal(isHeld(result({ achieved: 990 }), 10), true);
  assert.equal(isHeld(result({ achieved: 989 }), 10), false);
  assert.equal(isHeld(result({ dropped: 1 }), 10), false);
  assert.equal(isHeld(result({ errors: 1 }), 10), false);
  assert.equal(isHeld(result({ p99: 10 }), 10), false);
});

test('calibrate measures both models against its own zero-latency target and stops it', async () => {
  const probes: string[] = [];
  const c = await calibrate({ probeMs: 1000, p99FloorMs: 50, connections: 8, probes: 1, warmupMs: 500, onProbe: (p) => probes.push(p.model) });
  assert.ok(c.closed_capacity > 0);
  assert.deepEqual(probes.slice(0, 2), ['closed', 'open']);
  assert.ok(c.probes.length >= 2 && c.probes.length <= 3);
  const first = c.probes[1];
  assert.equal(first.target, Math.round(c.closed_capacity / 2));
  assert.equal(first.errors, 0);
  // the result is the highest probe held, or none
  const held = c.probes.filter((p) => p.model === 'open' && p.held).map((p) => p.target!);
  assert.equal(c.open_capacity, held.length ? Math.max(...held) : 0);
  assert.match(formatCalibration(c), /closed model: \d+ req\/s with 8 connections/);
});
