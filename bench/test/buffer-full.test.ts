// The write buffer overflowing, provoked for real: MariaDB answers through a proxy that holds each answer 200 ms,
// the service may buffer 10 Pushes and flush 10 rows at a time, one flush at once; 200 arrivals a second need far
// more. Pushes are answered resource_exhausted, and the diagnosis says the buffer (capacity 10) was full, with the
// service's high-water mark (10, not a 1 Hz sample) beside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slowDatabase } from './support/slow-database';
import { benchRun } from './support/bench-run';

const slowDb = slowDatabase(200);

test('"N answers were resource_exhausted: the write buffer (capacity 10, peak 10) was full"', async () => {
  const r = await benchRun(
    { name: 'buffer', thresholds: ['error_rate < 1%'], stages: [{ name: 'r200', duration: '3s', rate: 200 }] },
    ['--service-env', 'BUFFER_CAPACITY=10', '--service-env', 'BATCH_MAX_ROWS=10', '--service-env', 'BATCH_MAX_CONCURRENT_FLUSHES=1'],
    { MYSQL_URL: slowDb.url },
  );
  assert.equal(r.code, 99, r.stderr.slice(-3000));
  const st = r.summary!.stages[0]!;
  const n = st.by_twirp_code.resource_exhausted ?? 0;
  assert.ok(n > 0);
  assert.deepEqual(st.peaks?.buffer, { peak: 10, capacity: 10 });
  const d = st.diagnosis?.find((x) => x.rule === 'buffer-full');
  assert.ok(d, JSON.stringify(st.diagnosis));
  assert.match(d.text, new RegExp(`^${n} answers were resource_exhausted: the write buffer \\(capacity 10, peak 10\\) was full; flushes took p99 \\d+ ms`));
  assert.ok(r.stdout.includes(`CAUSE     ${d.text}`));
  assert.match(r.stdout, /Peaks {5}buffer 10\/10/);
  process.stdout.write(`# printed: ${r.stdout.split('\n').filter((l) => /Stage|Requests|CAUSE|Cause|Server|Peaks|FAIL/.test(l)).join('\n# ')}\n`);
});
