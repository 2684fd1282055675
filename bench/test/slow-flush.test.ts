// A slow database, provoked for real: the service writes to MariaDB through a proxy of the test's own that holds
// every answer from the database for 150 ms. The stage fails its p99 threshold, and its diagnosis says the flush
// time explains it (server-side flush p99 from the service's histogram deltas), in summary.json and printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slowDatabase } from './support/slow-database';
import { benchRun } from './support/bench-run';

const slowDb = slowDatabase(200);

test('"p99 X ms: flushes took p99 Y ms (group commit waits on the database)"', async () => {
  const r = await benchRun(
    { name: 'slow-db', stages: [{ name: 'r50', duration: '3s', rate: 50, thresholds: ['p99 < 50ms'] }] },
    [],
    { MYSQL_URL: slowDb.url },
  );
  assert.equal(r.code, 99, r.stderr.slice(-3000));
  const st = r.summary!.stages[0]!;
  assert.ok(st.server_time && st.server_time.flushes > 0);
  assert.ok(st.server_time.flush_ms.p99! >= 200, `flush p99 ${st.server_time.flush_ms.p99}`);
  const d = st.diagnosis?.find((x) => x.rule === 'slow-flush');
  assert.ok(d, JSON.stringify(st.diagnosis));
  assert.equal(d.severity, 'warn');
  assert.match(d.text, /^p99 \d+ ms: flushes took p99 \d+ ms \(group commit waits on the database\)/);
  assert.equal(d.evidence.flush_p99_ms, st.server_time.flush_ms.p99);
  assert.equal(d.evidence.client_p99_ms, st.latency_ms.p99);
  assert.ok(r.stdout.includes(`Cause     ${d.text}`));
  assert.match(r.stdout, /Server {4}\d+ flushes, p50 [\d.]+ms p99 [\d.]+ms/);
  process.stdout.write(`# printed: ${r.stdout.split('\n').filter((l) => /Stage|Latency|scheduled|service|Cause|Server|Peaks|FAIL/.test(l)).join('\n# ')}\n`);
});
