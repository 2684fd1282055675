// The batch INSERT text is built by hand (service/src/db/insert-sql.ts): every value must arrive in MySQL exactly
// as it was given, whatever characters a configured property or an address holds, and the stamp to the millisecond.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config';
import { buildInsert, sqlDatetime, sqlString, sqlUint } from '../src/db/insert-sql';
import { MysqlStore } from '../src/db/mysql-store';
import type { PageviewRow } from '../src/db/store';
import { MariaDb } from './support/mariadb';

let db: MariaDb;
let store: MysqlStore;

before(async () => {
  db = await MariaDb.start();
  store = new MysqlStore(db.url, loadConfig({ MYSQL_URL: db.url }).pool);
  await store.migrate();
});
after(async () => {
  await store?.close();
  await db?.destroy();
});

// Every character MySQL's string literals treat specially, plus multi-byte text and a would-be injection.
const TRICKY = ["o'brien", 'say "hi"', 'back\\slash', 'nul\0byte', 'tab\there', 'new\nline', 'cr\rhere', 'ctrl\x1az', 'bs\bx', "x'); DROP TABLE incoming; --", 'zürich ☃', '\\\'', ''];

test('values with special characters and stamps round-trip through a real MariaDB unchanged', async () => {
  const base = Date.UTC(2026, 11, 1, 23, 59, 59, 7);
  const rows: PageviewRow[] = TRICKY.map((s, i) => ({
    property: s.slice(0, 32),
    section: i + 1,
    id: 0xffff_ffff - i,
    remoteIp: `ip-${s}`,
    stampMs: base + i * 997,
  }));
  await store.insertBatch(rows);
  // HEX() so that NUL, tabs and newlines survive the mariadb client's tab-separated output.
  const got = await db.sql(
    "SELECT HEX(property), property_section, property_id, HEX(remote_ip), DATE_FORMAT(stamp, '%Y-%m-%d %H:%i:%s.%f') FROM test.incoming ORDER BY id",
  );
  const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex').toUpperCase();
  assert.deepEqual(
    got,
    rows.map((r) => [
      hex(r.property),
      String(r.section),
      String(r.id),
      hex(r.remoteIp),
      `${new Date(r.stampMs).toISOString().replace('T', ' ').replace('Z', '')}000`,
    ]),
  );
});

test('literals: integers only when non-negative and safe, stamps only within DATETIME, quoting only when needed', () => {
  assert.equal(sqlString('news'), "'news'");
  assert.equal(sqlString("a'b\\c"), "'a\\'b\\\\c'");
  assert.equal(sqlUint(0), '0');
  assert.equal(sqlUint(4294967295), '4294967295');
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) assert.throws(() => sqlUint(bad), TypeError);
  assert.equal(sqlDatetime(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "'2026-01-02 03:04:05.006'");
  assert.throws(() => sqlDatetime(Number.NaN), RangeError);
  assert.throws(() => sqlDatetime(Date.UTC(10000, 0, 1)), RangeError);
  assert.throws(() => buildInsert([]), RangeError);
});
