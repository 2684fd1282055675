// Arrivals dropped at maxInFlight, provoked for real: the database answers through a proxy that holds each answer
// 200 ms, so a Push takes over 200 ms, and 100 arrivals a second with at most 10 in flight cannot all be sent.
// The diagnosis says why with Little's law: rate x latency exceeded maxInFlight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slowDatabase } from './support/slow-database';
import { benchRun } from './support/bench-run';

const slowDb = slowDatabase(200);

test('"N arrivals dropped: rate x latency exceeded maxInFlight 10 (100 req/s x X ms p99 = Y in flight)"', async () => {
  const r = await benchRun(
    { name: 'dropped', stages: [{ name: 'r100', duration: '3s', rate: 100, maxInFlight: 10, thresholds: ['dropped == 0'] }] },
    [],
    { MYSQL_URL: slowDb.url },
  );
  assert.equal(r.code, 99, r.stderr.slice(-3000));
  const st = r.summary!.stages[0]!;
  assert.ok(st.counts.dropped > 0);
  const d = st.diagnosis?.find((x) => x.rule === 'dropped-arrivals');
  assert.ok(d, JSON.stringify(st.diagnosis));
  const m = /^(\d+) arrivals dropped: rate x latency exceeded maxInFlight 10 \(100 req\/s x (\d+) ms p99 = (\d+) in flight\)$/.exec(d.text);
  assert.ok(m, d.text);
  assert.equal(Number(m[1]), st.counts.dropped);
  assert.ok(Number(m[2]) >= 200, 'a Push took at least the delay');
  assert.ok(Number(m[3]) > 10, 'more in flight needed than the cap');
  assert.ok(r.stdout.includes(`Cause     ${d.text}`));
  process.stdout.write(`# printed: ${r.stdout.split('\n').filter((l) => /Stage|Requests|CAUSE|Cause|Server|Peaks|FAIL/.test(l)).join('\n# ')}\n`);
});
