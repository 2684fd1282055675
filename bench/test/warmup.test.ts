import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processWarmedUp, resetWarmup, warmupStage } from '../src/warmup';
import { runInfo, runProfile } from '../src/run';
import { OutputSet } from '../src/outputs/index';
import { validateProfile } from '../src/profiles/validate';
import { formatSummary } from '../src/outputs/console';
import { startTestServer } from './support/test-server';
import { MariaDb } from '../../service/test/support/mariadb';
import { DelayProxy } from './support/delay-proxy';
import { benchRun, cleanup } from './support/bench-run';
import type { BenchEvent, StageSpec } from '../src/types';

test('the warm-up sends the first stage\'s opening load', () => {
  const open: StageSpec = { name: 'a', model: 'open', durationMs: 9000, rate: 300, rampTo: 900, maxInFlight: 50, thresholds: [] };
  assert.deepEqual(warmupStage(open, 2000), { name: 'warm-up', durationMs: 2000, thresholds: [], model: 'open', rate: 300, maxInFlight: 50 });
  assert.equal(warmupStage({ ...open, rate: 0 }, 2000).rate, 90);
  assert.equal(warmupStage({ ...open, rate: 0, rampTo: 4 }, 2000).rate, 1);
  const closed: StageSpec = { name: 'c', model: 'closed', durationMs: 9000, connections: 0, rampTo: 200, thresholds: [] };
  assert.equal(warmupStage(closed, 1000).connections, 20);
  assert.equal(warmupStage({ ...closed, connections: 8 }, 1000).connections, 8);
});

test('a run warms up once per process, apart from every stage: its requests are in no stage\'s counts', async (t) => {
  resetWarmup();
  const srv = await startTestServer({ latencyMs: 1 });
  t.after(() => srv.close());
  const r = validateProfile({ request: { timeout: '2s' }, stages: [{ name: 'only', duration: '500ms', rate: 100 }] }, 'test');
  assert.ok('profile' in r);
  const events: BenchEvent[] = [];
  const outputs = new OutputSet([{ name: 'rec', start: async () => {}, add: (e) => void events.push(e), stop: async () => {} }]);
  await outputs.start(runInfo(r.profile, srv.url, 'w1'));
  const s = await runProfile({ profile: r.profile, target: srv.url, runId: 'w1', outputs, warmupMs: 400, scrape: false });
  await outputs.stop(s);
  assert.ok(s.warmup, 'summary.warmup');
  assert.equal(s.warmup.model, 'open');
  assert.equal(s.warmup.rate, 100);
  assert.equal(s.warmup.sent, 40);
  assert.equal(s.stages.length, 1);
  assert.equal(s.stages[0].counts.sent, 50);
  assert.equal(srv.counts.requests, s.warmup.sent + s.stages[0].counts.sent);
  // the warm-up is announced before the first stage starts, and never as a stage
  const kinds = events.filter((e) => e.type !== 'tick' && e.type !== 'interval').map((e) => e.type);
  assert.deepEqual(kinds, ['warmup', 'stage-start', 'stage-end']);
  assert.match(formatSummary(s), /Warm-up \(not part of any stage\): 400ms at 100 req\/s, 40 sent/);
  assert.equal(processWarmedUp(), true);
  // the same process again: already warm
  const again = await runProfile({ profile: r.profile, target: srv.url, runId: 'w2', outputs, warmupMs: 400, scrape: false });
  assert.equal(again.warmup, undefined);
});

test("the warm-up's last requests land before the first stage's baseline: client, server and rows agree", async (t) => {
  // Every answer from the database is held 200 ms, so the warm-up ends with all its connections' Pushes still in
  // the service's flushes; unless the bench lets them land first, they count as the first stage's.
  const db = await MariaDb.start();
  const proxy = await DelayProxy.start(db.port, 200);
  t.after(async () => {
    await cleanup();
    await proxy.close();
    await db.destroy();
  });
  const r = await benchRun(
    { name: 'warm-tail', stages: [{ name: 'c8', duration: '2s', connections: 8, thresholds: ['disagreements == 0'] }] },
    ['--warmup', '1s'],
    { MYSQL_URL: proxy.url },
  );
  assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr.slice(-2000));
  const s = r.summary!;
  assert.ok(s.warmup && s.warmup.sent > 0, JSON.stringify(s.warmup));
  const st = s.stages[0]!;
  assert.deepEqual(st.server?.disagreements, []);
  assert.ok(st.server!.rows_written! >= st.counts.ok && st.server!.rows_written! <= st.counts.sent, JSON.stringify(st.server));
});
