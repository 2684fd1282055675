// The bench's row counter and MySQL status reader survive the database going away: while it is down a count fails
// at once with an error (no hang), and once it is back the same counter counts again (its pool opened a new
// connection), so rows are reconciled for the rest of the run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MariaDb } from '../../service/test/support/mariadb';
import { RowCounter } from '../src/target/mysql-rows';
import { MysqlStatus, mysqlStageStatus } from '../src/target/mysql-status';

let db: MariaDb;
let rows: RowCounter;
before(async () => {
  db = await MariaDb.start({ maxConnections: 12 });
  await db.sql('CREATE TABLE test.incoming (id BIGINT AUTO_INCREMENT PRIMARY KEY, property VARCHAR(32))');
  rows = await RowCounter.connect(db.url);
});
after(async () => {
  await rows?.close();
  await db?.destroy();
});

test('counts rows since a mark; reconnects after the server was killed and restarted', async () => {
  const mark = await rows.mark();
  await db.sql("INSERT INTO test.incoming (property) VALUES ('news'), ('news')");
  assert.equal(await rows.countSince(mark), 2);

  await db.stop('kill');
  await assert.rejects(rows.countSince(mark), (e: Error & { code?: string }) => typeof e.code === 'string' || /closed|connect/i.test(e.message));
  await db.restart();
  await db.sql("INSERT INTO test.incoming (property) VALUES ('news')");
  assert.equal(await rows.countSince(mark), 3, 'the same counter counts again');
});

test('MySQL status: max_connections, and refusals over a stage as deltas', async () => {
  const status = new MysqlStatus(rows.pool);
  const before = await status.read();
  assert.equal(before.max_connections, 12);
  assert.ok(before.threads_connected >= 1);
  const after = await status.read();
  const s = mysqlStageStatus(before, after);
  assert.equal(s.max_connections, 12);
  assert.equal(s.connection_errors_max_connections, 0);
  assert.ok(s.max_used_connections >= 1);
});
