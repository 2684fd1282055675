// A MariaDB at its max_connections (the minimum, 10, held open by the test): Pushes get a clear `unavailable`
// (MySQL error 1040) quickly instead of hanging, the error is counted by code, and writes succeed once the
// connections are released.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql, { type Connection } from 'mysql2/promise';
import type { FastifyInstance } from 'fastify';
import { MariaDb } from './support/mariadb';
import { encodePush, metricValue, post, startApp } from './support/service';

let db: MariaDb;
let app: FastifyInstance;
let base: string;
const held: Connection[] = [];

before(async () => {
  db = await MariaDb.start({ maxConnections: 10 });
  // Idle limit 0: every flush opens a fresh connection, so it meets the server's limit.
  ({ app, base } = await startApp({ MYSQL_URL: db.url, DB_POOL_IDLE_MAX: '0', DB_CONNECT_TIMEOUT_MS: '2000' }));
});
after(async () => {
  for (const c of held) await c.end().catch(() => undefined);
  await app?.close();
  await db?.destroy();
});

test('connections exhausted by others: unavailable with 1040, then recovery', async () => {
  const ok = await post(base, JSON.stringify({ property: 'news', section: 400, id: 1 }));
  assert.equal(ok.status, 200);
  assert.equal(app.store.poolStats()?.idle, 0);

  // Take every connection the server allows (max_connections plus the one it keeps for SUPER users).
  let refused: unknown;
  for (let i = 0; i < 20 && refused === undefined; i++) {
    try {
      held.push(await mysql.createConnection({ uri: db.url }));
    } catch (err) {
      refused = err;
    }
  }
  assert.equal((refused as { code?: string }).code, 'ER_CON_COUNT_ERROR');

  const answers = await Promise.all([
    post(base, JSON.stringify({ property: 'news', section: 400, id: 2 })),
    post(base, JSON.stringify({ property: 'news', section: 400, id: 3 })),
    post(base, encodePush({ property: 'news', section: 400, id: 4 }), 'application/protobuf'),
  ]);
  for (const a of answers) {
    assert.equal(a.status, 503);
    assert.equal(a.json.code, 'unavailable');
    assert.match(a.json.msg, /too many connections/);
  }
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.ok(metricValue(text, 'db_client_connection_errors_total', { error_code: 'ER_CON_COUNT_ERROR', errno: '1040' }) >= 1);
  assert.equal((await fetch(`${base}/readyz`)).status, 503);

  for (const c of held.splice(0)) await c.end();
  let again = await post(base, JSON.stringify({ property: 'news', section: 400, id: 5 }));
  for (let i = 0; i < 50 && again.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    again = await post(base, JSON.stringify({ property: 'news', section: 400, id: 5 }));
  }
  assert.equal(again.status, 200);
  const rows = await db.sql('SELECT property_id FROM test.incoming WHERE property_section = 400 ORDER BY property_id');
  assert.deepEqual(rows.map(([id]) => Number(id)), [1, 5]);
});
