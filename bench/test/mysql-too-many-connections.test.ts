// The reference failure, provoked for real: MariaDB with max_connections=10, the service's pool at 40 with 40
// concurrent one-row flushes, 100 connections of load. The stage's diagnosis names MySQL 1040 as the cause of its
// errors and the pool exceeding max_connections (which the bench read from MySQL itself), in summary.json and in
// the printed stage table.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MariaDb } from '../../service/test/support/mariadb';
import { benchRun, cleanup } from './support/bench-run';

let db: MariaDb;
before(async () => {
  db = await MariaDb.start({ maxConnections: 10 });
});
after(async () => {
  await cleanup();
  await db?.destroy();
});

test('1040: "N of M errors are MySQL 1040 (too many connections): the service\'s pool (40) exceeds max_connections (10)"', async () => {
  const r = await benchRun(
    { name: 'ref-1040', thresholds: ['error_rate < 1%'], stages: [{ name: 'c100', duration: '4s', connections: 100 }] },
    ['--service-env', 'DB_POOL_MAX=40', '--service-env', 'BATCH_MAX_CONCURRENT_FLUSHES=40', '--service-env', 'BATCH_MAX_ROWS=1'],
    { MYSQL_URL: db.url },
  );
  assert.equal(r.code, 99, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  const st = r.summary!.stages[0]!;
  assert.ok(st.counts.errors > 0);
  const d = st.diagnosis?.find((x) => x.rule === 'mysql-too-many-connections');
  assert.ok(d, JSON.stringify(st.diagnosis));
  assert.equal(d.severity, 'error');
  assert.match(d.text, /^(\d+) of (\d+) errors are MySQL 1040 \(too many connections\): the service's pool \(40\) exceeds max_connections \(10\)$/);
  const [, n, m] = /^(\d+) of (\d+)/.exec(d.text)!;
  assert.equal(Number(m), st.counts.errors);
  assert.ok(Number(n) > 0 && Number(n) <= (st.by_twirp_code.unavailable ?? 0), `${n} of ${m}`);
  assert.ok((d.evidence.pushes_failed_1040 as number) >= Number(n), 'the service failed at least as many Pushes with 1040');
  assert.equal(d.evidence.pool_max, 40);
  assert.equal(d.evidence.max_connections, 10);
  assert.ok(r.stdout.includes(`CAUSE     ${d.text}`), 'printed in the stage table');
  process.stdout.write(`# printed: ${r.stdout.split('\n').filter((l) => /Stage|Requests|CAUSE|Cause|Server|Peaks|FAIL/.test(l)).join('\n# ')}\n`);
});
