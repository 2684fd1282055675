// --ceiling for breakpoint profiles: steps above it left out, steps added up to it (x1.5, the last exactly the
// ceiling) with the top step's duration, thresholds and cap; and the verdict when every step held names the rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProfile } from '../src/profiles/index';
import { CeilingError, withCeiling } from '../src/profiles/ceiling';
import { runProfile } from '../src/run';
import { OutputSet } from '../src/outputs/index';
import { startTestServer } from './support/test-server';

test('the shipped breakpoint profile: capped at 600, or climbing to 20000', () => {
  const { profile } = loadProfile('breakpoint');
  const low = withCeiling(profile, 600);
  assert.deepEqual(low.stages.map((s) => `${s.name}:${s.rate}`), ['warmup:100', 'rate-250:250', 'rate-500:500', 'rate-600:600']);
  assert.equal(low.ceiling, 600);
  const added = low.stages[3]!;
  assert.equal(added.durationMs, profile.stages[2]!.durationMs);
  assert.deepEqual(added.thresholds.map((t) => t.expr), profile.stages[2]!.thresholds.map((t) => t.expr));
  const high = withCeiling(profile, 20000);
  assert.deepEqual(high.stages.slice(-3).map((s) => s.rate), [8000, 12000, 18000, 20000].slice(-3));
  assert.ok(high.stages.every((s) => (s.maxInFlight ?? 0) >= Math.min(1000, s.rate ?? 0) || s.name === 'warmup'));
  assert.throws(() => withCeiling(loadProfile('load').profile, 100), CeilingError);
});

test('every step held: "no limit found below 600 req/s"', async (t) => {
  const srv = await startTestServer();
  t.after(() => srv.close());
  const { profile } = loadProfile('breakpoint', { duration: '300ms', set: ['stages[1].thresholds=[errors == 0]', 'stages[2].thresholds=[errors == 0]'] });
  const p = withCeiling({ ...profile, stages: profile.stages.slice(0, 3) }, 600);
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'c1', outputs: new OutputSet([]), scrape: false });
  assert.equal(summary.breakpoint?.limit_found, false);
  assert.equal(summary.breakpoint?.highest_rate_held, 600);
  assert.equal(summary.breakpoint?.text, 'no limit found below 600 req/s: every step held');
});
