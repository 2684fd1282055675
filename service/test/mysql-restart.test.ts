// MySQL stopped and restarted mid-test: Pushes answer `unavailable` (never hang, never crash), readiness follows
// the database, and writes succeed again after the restart without restarting the service.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { MariaDb } from './support/mariadb';
import { countRows, encodePush, metricValue, post, startApp } from './support/service';

let db: MariaDb;
let app: FastifyInstance;
let base: string;

before(async () => {
  db = await MariaDb.start();
  ({ app, base } = await startApp({ MYSQL_URL: db.url, DB_CONNECT_TIMEOUT_MS: '1000', DB_POOL_ACQUIRE_TIMEOUT_MS: '1000' }));
});
after(async () => {
  await app?.close();
  await db?.destroy();
});

const push = (id: number) => post(base, JSON.stringify({ property: 'news', section: 300, id }));

for (const how of ['term', 'kill'] as const) {
  test(`database stopped (${how}) and restarted`, async () => {
    // Warm the pool so it holds connections that will die with the server.
    const warm = await Promise.all([1, 2, 3, 4].map((i) => push(i)));
    for (const a of warm) assert.equal(a.status, 200);

    await db.stop(how);
    const down = await Promise.all([
      ...[10, 11, 12, 13, 14, 15].map((i) => push(i)),
      post(base, encodePush({ property: 'news', section: 300, id: 16 }), 'application/protobuf'),
    ]);
    for (const a of down) {
      assert.equal(a.status, 503, a.body.toString());
      assert.equal(a.json.code, 'unavailable');
      assert.deepEqual(Object.keys(a.json).sort(), ['code', 'msg']);
    }
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'the process must stay alive');

    await db.restart();
    let answer = await push(20);
    // The first attempts may still meet a connection that died with the old server; it recovers by itself.
    for (let i = 0; i < 50 && answer.status !== 200; i++) {
      assert.equal(answer.json.code, 'unavailable');
      await new Promise((r) => setTimeout(r, 100));
      answer = await push(20);
    }
    assert.equal(answer.status, 200);
    const again = await Promise.all([21, 22, 23].map((i) => push(i)));
    for (const a of again) assert.equal(a.status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal(await countRows((s) => db.sql(s), 'property_section = 300 AND property_id BETWEEN 10 AND 16'), 0);
    await db.sql('DELETE FROM test.incoming WHERE property_section = 300');
  });
}

test('connection errors are counted by code', async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const refused = metricValue(text, 'db_client_connection_errors_total', { error_code: 'ECONNREFUSED', errno: 'none' });
  const lost = metricValue(text, 'db_client_connection_errors_total');
  assert.ok(refused >= 1, 'ECONNREFUSED counted');
  assert.ok(lost > refused, 'lost connections counted too');
  assert.ok(metricValue(text, 'pageview_flush_failures_total', { twirp_code: 'unavailable' }) >= 1);
  assert.ok(metricValue(text, 'pageview_pushes_total', { result: 'rejected', twirp_code: 'unavailable' }) >= 14);
});
