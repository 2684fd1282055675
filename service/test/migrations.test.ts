// Versioned, idempotent migrations: applied once at start or by `npm run db:migrate`, safe to run concurrently.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MIGRATIONS } from '../src/db/migrations';
import { MysqlStore } from '../src/db/mysql-store';
import { loadConfig } from '../src/config';
import { MariaDb } from './support/mariadb';

const run = promisify(execFile);
const CLI = join(__dirname, '..', 'src', 'db', 'migrate-cli.ts');
let db: MariaDb;

before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  await db?.destroy();
});

test('db:migrate creates the incoming table, then reports up to date', async () => {
  await db.sql('CREATE DATABASE m1');
  const url = db.url.replace(/\/test$/, '/m1');
  const first = await run(process.execPath, ['--import', 'tsx', CLI], { env: { ...process.env, MYSQL_URL: url } });
  assert.match(first.stdout, /applied migrations: 1, 2/);
  const second = await run(process.execPath, ['--import', 'tsx', CLI], { env: { ...process.env, MYSQL_URL: url } });
  assert.match(second.stdout, /schema up to date/);
  const cols = await db.sql(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'm1' AND table_name = 'incoming' ORDER BY ordinal_position",
  );
  assert.deepEqual(cols.map(([c]) => c), ['id', 'property', 'property_section', 'property_id', 'remote_ip', 'stamp', 'idempotency_key']);
  assert.deepEqual(await db.sql('SELECT version, name FROM m1.schema_migrations ORDER BY version'), [
    ['1', 'create incoming'],
    ['2', 'incoming idempotency key'],
  ]);
});

test('db:migrate without MYSQL_URL is a usage error', async () => {
  const env = { ...process.env };
  delete env.MYSQL_URL;
  await assert.rejects(run(process.execPath, ['--import', 'tsx', CLI], { env }), (e: { code?: number; stderr?: string }) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr ?? '', /MYSQL_URL is not set/);
    return true;
  });
});

test('concurrent migrations apply each version once', async () => {
  await db.sql('CREATE DATABASE m2');
  const config = loadConfig({ MYSQL_URL: db.url.replace(/\/test$/, '/m2') });
  const stores = [1, 2, 3, 4].map(() => new MysqlStore(config.mysqlUrl!, config.pool));
  try {
    const applied = await Promise.all(stores.map((s) => s.migrate()));
    assert.equal(applied.flat().length, MIGRATIONS.length, 'each migration applied by exactly one caller');
    assert.deepEqual(await db.sql('SELECT COUNT(*) FROM m2.schema_migrations'), [[String(MIGRATIONS.length)]]);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('a table of the seed schema gets the idempotency key column; its rows keep NULL keys', async () => {
  await db.sql('CREATE DATABASE m4');
  const url = db.url.replace(/\/test$/, '/m4');
  await db.sql(`USE m4; ${MIGRATIONS[0]!.sql}; INSERT INTO incoming (property, property_section, property_id, remote_ip, stamp) VALUES ('news', 1, 1, '::1', NOW(3)), ('news', 1, 2, '::1', NOW(3))`);
  const store = new MysqlStore(url, loadConfig({ MYSQL_URL: url }).pool);
  try {
    assert.deepEqual(await store.migrate(), [1, 2]);
    assert.deepEqual(await db.sql('SELECT COUNT(*), COUNT(idempotency_key) FROM m4.incoming'), [['2', '0']]);
    // Keyless rows (NULL) never collide; keyed ones do, case-sensitively.
    const row = (id: number, idempotencyKey?: string) => ({ property: 'news', section: 1, id, remoteIp: '::1', stampMs: Date.now(), idempotencyKey });
    await store.insertBatch([row(3), row(4), row(5, 'k'), row(6, 'K'), row(7, 'k')]);
    assert.deepEqual(await db.sql('SELECT COUNT(*), COUNT(idempotency_key), COUNT(DISTINCT idempotency_key) FROM m4.incoming'), [['6', '2', '2']]);
    assert.deepEqual(await db.sql("SELECT property_id FROM m4.incoming WHERE idempotency_key = 'k'"), [['5']]);
  } finally {
    await store.close();
  }
});

test('existing data survives a re-run', async () => {
  await db.sql('CREATE DATABASE m3');
  const config = loadConfig({ MYSQL_URL: db.url.replace(/\/test$/, '/m3') });
  const store = new MysqlStore(config.mysqlUrl!, config.pool);
  try {
    await store.migrate();
    await store.insertBatch([{ property: 'news', section: 1, id: 1, remoteIp: '::1', stampMs: Date.now() }]);
    assert.deepEqual(await store.migrate(), []);
    assert.deepEqual(await db.sql('SELECT COUNT(*) FROM m3.incoming'), [['1']]);
  } finally {
    await store.close();
  }
});
