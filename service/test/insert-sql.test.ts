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
  assert.equal(sqlString('say "hi" <b>&</b>'), `'say "hi" <b>&</b>'`);
  assert.equal(sqlString("a'b\\c"), "_utf8mb4 X'6127625c63'");
  assert.equal(sqlString('z\u00fc'), "_utf8mb4 X'7ac3bc'");
  assert.equal(sqlUint(0), '0');
  assert.equal(sqlUint(4294967295), '4294967295');
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) assert.throws(() => sqlUint(bad), TypeError);
  assert.equal(sqlDatetime(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "'2026-01-02 03:04:05.006'");
  assert.throws(() => sqlDatetime(Number.NaN), RangeError);
  assert.throws(() => sqlDatetime(Date.UTC(10000, 0, 1)), RangeError);
  assert.throws(() => buildInsert([]), RangeError);
});

// Every character U+0000 to U+00FF (every byte value as ASCII or, above 0x7f, as its two-byte UTF-8 form), multi-byte
// text up to four bytes, and the characters escapes are made of, in the default sql_mode and in the modes that change
// how literals read: each value must arrive byte for byte.
test('every byte value and multi-byte characters arrive unchanged whatever the server sql_mode', async (t) => {
  const chars = Array.from({ length: 256 }, (_, c) => String.fromCharCode(c));
  const values = [
    ...Array.from({ length: 16 }, (_, i) => chars.slice(i * 16, i * 16 + 16).join('')),
    ...chars.filter((_, c) => c < 0x20 || c === 0x22 || c === 0x27 || c === 0x5c || c === 0x7f),
    "\\'", "\\\\'", "''", '\\', "\\0", '\\n', '%_', '"', "x' OR '1'='1", 'z\u00fcrich \u2603 \u4e2d\u6587', '\ud83d\ude00\u{10ffff}\uffff', '\u2028\u2029\u0301',
    '',
  ];
  const modes = [
    (await db.sql('SELECT @@global.sql_mode'))[0]?.[0] ?? '',
    'NO_BACKSLASH_ESCAPES',
    'NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_ALL_TABLES,PAD_CHAR_TO_FULL_LENGTH',
    'ANSI,TRADITIONAL',
  ];
  // The last pass also talks latin1 on the connection (character_set_connection): the introducer still makes the
  // literal utf8mb4.
  const urls = modes.map((_, m) => (m === modes.length - 1 ? `${db.url}?charset=LATIN1_SWEDISH_CI` : db.url));
  const original = modes[0]!;
  try {
    for (const [m, mode] of modes.entries()) {
      await db.sql(`SET GLOBAL sql_mode = '${mode}'`);
      // A store opened now: its connections take the global mode.
      const s = new MysqlStore(urls[m]!, loadConfig({ MYSQL_URL: db.url }).pool);
      try {
        const section = 1000 + m;
        await s.insertBatch(values.map((v, i) => ({ property: 'news', section, id: i + 1, remoteIp: v, stampMs: Date.now(), idempotencyKey: `mode${m}-${i}` })));
        const got = await db.sql(`SELECT property_id, HEX(remote_ip), @@global.sql_mode FROM test.incoming WHERE property_section = ${section} ORDER BY property_id`);
        assert.equal(got.length, values.length, mode);
        const running = new Set((got[0]?.[2] ?? '').split(','));
        for (const flag of mode.split(',').filter((f) => f !== '' && f !== 'ANSI' && f !== 'TRADITIONAL')) {
          assert.ok(running.has(flag), `the server runs with ${flag}: ${got[0]?.[2]}`);
        }
        for (const [i, v] of values.entries()) {
          assert.equal(got[i]?.[1], Buffer.from(v, 'utf8').toString('hex').toUpperCase(), `${mode}: value ${JSON.stringify(v)}`);
        }
        t.diagnostic(`sql_mode '${mode}' over ${urls[m]}: ${values.length} values round-tripped`);
      } finally {
        await s.close();
      }
    }
  } finally {
    await db.sql(`SET GLOBAL sql_mode = '${original}'`);
  }
});
