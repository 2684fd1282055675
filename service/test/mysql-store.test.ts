// The truth of a write's answer, on a real MariaDB behind a TCP proxy of the test's own: a failure before the INSERT
// left is `unavailable` and stored nothing; after it left, a missing answer or a connection lost mid-commit is
// `deadline_exceeded` (the row may be stored, and here it is); a retry with the same Idempotency-Key answers ok
// without a second row, also within one batch; and a row the database refuses fails alone, its batch neighbours
// are committed. Rows always equal the Pushes answered ok (plus the unknown-outcome ones that did commit).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { MariaDb } from './support/mariadb';
import { FaultProxy } from './support/fault-proxy';
import { countRows, metricValue, post, startApp, type Answer } from './support/service';

let db: MariaDb;
let proxy: FaultProxy;
let app: FastifyInstance;
let base: string;

const QUERY_TIMEOUT_MS = 400;

before(async () => {
  db = await MariaDb.start();
  proxy = await FaultProxy.start(db.port);
  ({ app, base } = await startApp({
    MYSQL_URL: proxy.url,
    DB_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
    DB_CONNECT_TIMEOUT_MS: '1000',
    DB_POOL_ACQUIRE_TIMEOUT_MS: '1000',
    // Pushes sent together gather into one batch.
    BATCH_FLUSH_INTERVAL_MS: '40',
    TRUST_PROXY: 'true',
  }));
});
after(async () => {
  await app?.close();
  await proxy?.stop();
  await db?.destroy();
});

const sql = (s: string) => db.sql(s);
const push = (section: number, id: number, headers: Record<string, string> = {}): Promise<Answer> =>
  post(base, JSON.stringify({ property: 'news', section, id }), 'application/json', undefined, headers);
const withKey = (key: string): Record<string, string> => ({ 'idempotency-key': key });
const rowsWithKey = (key: string) => countRows(sql, `idempotency_key = '${key}'`);

async function restore(): Promise<void> {
  proxy.mode = 'pass';
  proxy.dropAll();
  // The pool has noticed its connections closed once a write goes through again.
  for (let i = 0; i < 50; i++) {
    if ((await push(999, i + 1)).status === 200) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the write path did not recover');
}

function assertCode(a: Answer, code: string, status: number): void {
  assert.equal(a.status, status, a.body.toString());
  assert.equal(a.json?.code, code, a.body.toString());
}

test('no answer after the INSERT was sent: deadline_exceeded (it was stored); the retry with its key adds nothing', async () => {
  await restore();
  proxy.mode = 'hold';
  proxy.sentDuringFault = 0;
  const [keyed, keyless] = await Promise.all([push(1, 1, withKey('hold-1')), push(1, 2)]);
  assert.ok(proxy.sentDuringFault > 0, 'the INSERT left the service');
  for (const a of [keyed, keyless]) {
    assertCode(a, 'deadline_exceeded', 408);
    assert.match(a.json.msg, /may have been stored/);
  }
  await restore();
  // The database did commit what it received: `unavailable` here would have been a lie.
  assert.equal(await rowsWithKey('hold-1'), 1);
  assert.equal(await countRows(sql, 'property_section = 1 AND property_id = 2'), 1);
  const retry = await push(1, 1, withKey('hold-1'));
  assert.equal(retry.status, 200, retry.body.toString());
  assert.equal(await rowsWithKey('hold-1'), 1, 'the retry did not store a second row');
});

test('the connection dies after the INSERT was sent: deadline_exceeded; the retry with its key leaves one row', async () => {
  await restore();
  proxy.mode = 'cut';
  proxy.cutAfterMs = 30;
  const a = await push(2, 1, withKey('cut-1'));
  assertCode(a, 'deadline_exceeded', 408);
  await restore();
  const stored = await rowsWithKey('cut-1');
  assert.ok(stored <= 1);
  const retry = await push(2, 1, withKey('cut-1'));
  assert.equal(retry.status, 200, retry.body.toString());
  assert.equal(await rowsWithKey('cut-1'), 1);
});

test('no connection to be had (before the INSERT was sent): unavailable, and nothing was stored', async () => {
  await restore();
  proxy.mode = 'refuse';
  proxy.dropAll();
  await new Promise((r) => setTimeout(r, 100)); // the pool sees its connections end
  const answers = await Promise.all([push(3, 1, withKey('refused-1')), push(3, 2)]);
  for (const a of answers) assertCode(a, 'unavailable', 503);
  await restore();
  assert.equal(await countRows(sql, 'property_section = 3'), 0, 'unavailable promises nothing was stored');
  assert.equal((await push(3, 1, withKey('refused-1'))).status, 200);
  assert.equal(await rowsWithKey('refused-1'), 1);
});

test('the same key twice in one batch, and again later: every Push ok, one row; keys are case-sensitive', async () => {
  await restore();
  const answers = await Promise.all([
    ...[1, 2, 3, 4, 5].map(() => push(4, 1, withKey('same-1'))),
    ...[10, 11, 12].map((id) => push(4, id)),
    push(4, 20, withKey('Same-1')),
    push(4, 21, withKey('"quoted-1"')),
  ]);
  for (const a of answers) assert.equal(a.status, 200, a.body.toString());
  assert.equal((await push(4, 1, withKey('same-1'))).status, 200);
  assert.equal((await push(4, 21, withKey('quoted-1'))).status, 200, 'the structured-field form is the same key');
  assert.equal(await rowsWithKey('same-1'), 1);
  assert.equal(await rowsWithKey('Same-1'), 1);
  assert.equal(await rowsWithKey('quoted-1'), 1);
  assert.equal(await countRows(sql, 'property_section = 4 AND idempotency_key IS NULL'), 3, 'Pushes without a key are all stored');
  assert.equal(await countRows(sql, 'property_section = 4'), 6);
});

test('a bad Idempotency-Key is invalid_argument and stores nothing', async () => {
  for (const key of ['a b', 'x'.repeat(129), 'caf\u00e9', "a'b", 'a\\b', '""', 'a,b', '"a', '{k}']) {
    const a = await post(base, JSON.stringify({ property: 'news', section: 5, id: 1 }), 'application/json', undefined, {
      'idempotency-key': Buffer.from(key, 'utf8').toString('latin1'),
    });
    assertCode(a, 'invalid_argument', 400);
    assert.equal(a.json.meta?.argument, 'idempotency_key');
  }
  assert.equal((await push(5, 2, withKey('x'.repeat(128)))).status, 200);
  assert.equal(await countRows(sql, 'property_section = 5'), 1);
});

test('a row the database refuses fails alone: its batch neighbours are committed', async () => {
  await restore();
  // A column narrower than the addresses some Pushes carry: those rows are refused by the server (1406).
  await sql('ALTER TABLE test.incoming MODIFY remote_ip VARCHAR(10) NOT NULL');
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  const before = await metrics();
  try {
    const ips = ['10.0.0.1', '203.0.113.200', '10.0.0.2', '10.0.0.3', '198.51.100.123', '10.0.0.4', '10.0.0.5', '10.0.0.6'];
    const answers = await Promise.all(ips.map((ip, i) => push(6, i + 1, { 'x-forwarded-for': ip, ...withKey(`refuse-${i}`) })));
    const ok = answers.flatMap((a, i) => (a.status === 200 ? [i + 1] : []));
    for (const [i, a] of answers.entries()) {
      if (ips[i]!.length > 10) {
        assertCode(a, 'internal', 500);
        assert.match(a.json.msg, /was not stored/);
      } else assert.equal(a.status, 200, a.body.toString());
    }
    const stored = (await sql('SELECT property_id FROM test.incoming WHERE property_section = 6 ORDER BY property_id')).map(([id]) => Number(id));
    assert.deepEqual(stored, ok, 'rows are exactly the Pushes answered ok');
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (metricValue(after, name, labels) || 0) - (metricValue(before, name, labels) || 0);
    assert.equal(delta('pageview_rows_failed_total', { error_code: 'ER_DATA_TOO_LONG' }), 2);
    // Had the refused rows come in batches of their own, those flushes would count as failed: they did not.
    assert.equal(delta('pageview_flush_failures_total'), 0, 'the refused rows were isolated inside a shared batch');
  } finally {
    await sql('ALTER TABLE test.incoming MODIFY remote_ip VARCHAR(255) NOT NULL');
  }
});

test('a forwarded IPv6 address with a long zone id is bounded: it and its neighbours are stored', async () => {
  await restore();
  const zone = `fe80::1%${'z'.repeat(400)}`;
  const answers = await Promise.all([
    push(7, 1, { 'x-forwarded-for': zone }),
    push(7, 2, { 'x-forwarded-for': '198.51.100.1' }),
    push(7, 3, { 'x-real-ip': zone }),
  ]);
  for (const a of answers) assert.equal(a.status, 200, a.body.toString());
  assert.deepEqual(await sql('SELECT property_id, remote_ip FROM test.incoming WHERE property_section = 7 ORDER BY property_id'), [
    ['1', 'fe80::1'],
    ['2', '198.51.100.1'],
    ['3', 'fe80::1'],
  ]);
});

test('a database hang (mariadbd stopped): no unavailable answer is stored, and retries with their keys store each Push once', async (t) => {
  await restore();
  const pid = db.pid!;
  const keys = Array.from({ length: 12 }, (_, i) => `hang-${i}`);
  process.kill(pid, 'SIGSTOP');
  let answers: Answer[];
  try {
    // Batches of a few rows each (BATCH_FLUSH_INTERVAL_MS gathers them), some on connections that were open, some
    // needing a new one the stopped server cannot hand out.
    answers = [];
    for (let wave = 0; wave < 3; wave++) {
      answers.push(...(await Promise.all(keys.slice(wave * 4, wave * 4 + 4).map((k, i) => push(8, wave * 4 + i + 1, withKey(k))))));
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const codes = answers.map((a) => (a.status === 200 ? 'ok' : String(a.json?.code)));
  t.diagnostic(`answers during the hang: ${codes.join(' ')}`);
  for (const c of codes) assert.ok(['deadline_exceeded', 'unavailable'].includes(c), codes.join(' '));
  assert.ok(codes.includes('deadline_exceeded'), `an INSERT was sent before the hang was noticed: ${codes.join(' ')}`);
  await restore();
  // What was sent before the hang is committed once the server runs again; give it a moment to work through it.
  for (let i = 0; i < 40 && (await processlistBusy()); i++) await new Promise((r) => setTimeout(r, 50));
  for (const [i, k] of keys.entries()) {
    const n = await rowsWithKey(k);
    if (codes[i] === 'unavailable') assert.equal(n, 0, `${k} was answered unavailable but is stored`);
    else assert.ok(n <= 1, k);
  }
  const retries = await Promise.all(keys.map((k, i) => push(8, i + 1, withKey(k))));
  for (const a of retries) assert.equal(a.status, 200, a.body.toString());
  for (const k of keys) assert.equal(await rowsWithKey(k), 1, `${k}: one row after the retry`);
});

/** Whether the server still runs a statement other than this check (leftovers from before a hang). */
async function processlistBusy(): Promise<boolean> {
  const rows = await sql("SELECT COUNT(*) FROM information_schema.processlist WHERE command = 'Query' AND info LIKE 'INSERT%'");
  return Number(rows[0]?.[0] ?? 0) > 0;
}
