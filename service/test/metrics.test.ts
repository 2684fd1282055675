// /metrics after known traffic: counters exact, histograms populated, pool gauges sane, scrapes not counted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { flushBatch } from '../src/pageviews/group-commit';
import { MariaDb } from './support/mariadb';
import { encodePush, metricValue, post, startApp, PUSH_PATH } from './support/service';

let db: MariaDb;
let app: FastifyInstance;
let base: string;

before(async () => {
  db = await MariaDb.start();
  ({ app, base } = await startApp({ MYSQL_URL: db.url }, { defaultMetrics: true }));
});
after(async () => {
  await app?.close();
  await db?.destroy();
});

test('counters are exact after known traffic', async () => {
  const N = 40;
  const accepted = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      i % 2 === 0
        ? post(base, JSON.stringify({ property: 'news', section: 1, id: i + 1 }))
        : post(base, encodePush({ property: 'news', section: 1, id: i + 1 }), 'application/protobuf'),
    ),
  );
  for (const a of accepted) assert.equal(a.status, 200);
  const rejected = [
    ...(await Promise.all([1, 2, 3].map(() => post(base, '{"property":"news","section":0,"id":1}')))), // invalid_argument x3
    ...(await Promise.all([1, 2].map(() => post(base, '{oops')))), // malformed x2
    await post(base, '{}', 'text/plain'), // bad_route on the Push route
    await post(base, '{}', 'application/json', '/twirp/stats.StatsService/Nope'), // bad_route, unmatched route
  ];
  assert.deepEqual(rejected.map((a) => a.status), [400, 400, 400, 400, 400, 404, 404]);
  await fetch(`${base}/healthz`);
  await fetch(`${base}/metrics`);
  const text = await (await fetch(`${base}/metrics`)).text();

  const push = (labels: Record<string, string>) => metricValue(text, 'pageview_pushes_total', labels);
  assert.equal(push({ result: 'accepted', twirp_code: 'ok' }), N);
  assert.equal(push({ result: 'rejected', twirp_code: 'invalid_argument' }), 3);
  assert.equal(push({ result: 'rejected', twirp_code: 'malformed' }), 2);
  assert.equal(push({ result: 'rejected', twirp_code: 'bad_route' }), 1);
  assert.equal(push({}), N + 6, 'one increment per Push request answered');

  const http = (labels: Record<string, string>) => metricValue(text, 'http_server_request_duration_seconds_count', labels);
  assert.equal(http({ http_route: PUSH_PATH }), N + 6, 'Push route count equals pageview_pushes_total');
  assert.equal(http({ http_route: PUSH_PATH, http_request_method: 'POST', http_response_status_code: '200', twirp_code: 'ok' }), N);
  assert.equal(http({ http_route: PUSH_PATH, http_response_status_code: '400', twirp_code: 'invalid_argument' }), 3);
  assert.equal(http({ http_route: PUSH_PATH, http_response_status_code: '404', twirp_code: 'bad_route' }), 1);
  assert.equal(http({ http_route: 'unmatched', http_response_status_code: '404', twirp_code: 'bad_route' }), 1);
  assert.equal(http({ http_route: '/healthz', twirp_code: 'none' }), 1);
  assert.ok(Number.isNaN(http({ http_route: '/metrics' })), '/metrics scrapes are not counted');
  assert.ok(metricValue(text, 'http_server_request_duration_seconds_bucket', { http_route: PUSH_PATH, twirp_code: 'ok', le: '10' }) === N);

  assert.equal(metricValue(text, 'pageview_rows_committed_total'), N);
  assert.equal(metricValue(text, 'pageview_batch_size_sum'), N);
  const flushes = metricValue(text, 'pageview_batch_size_count');
  assert.ok(flushes >= 1 && flushes <= N);
  assert.equal(metricValue(text, 'pageview_flush_duration_seconds_count'), flushes);
  assert.equal(metricValue(text, 'pageview_buffer_depth'), 0);
  assert.equal(metricValue(text, 'pageview_buffer_capacity'), 10_000);
  assert.ok(Number.isNaN(metricValue(text, 'pageview_flush_failures_total')) || metricValue(text, 'pageview_flush_failures_total') === 0);

  const idle = metricValue(text, 'db_client_connection_count', { db_client_connection_state: 'idle' });
  const used = metricValue(text, 'db_client_connection_count', { db_client_connection_state: 'used' });
  const max = metricValue(text, 'db_client_connection_max');
  assert.equal(max, 10);
  assert.ok(idle >= 1, 'the pool keeps idle connections');
  assert.ok(used <= max && idle + used <= max, `idle ${idle} used ${used} max ${max}`);
  assert.equal(metricValue(text, 'db_client_connection_pending_requests'), 0);
  assert.ok(metricValue(text, 'db_client_connection_wait_time_seconds_count') >= flushes);
  assert.equal(metricValue(text, 'db_client_connection_timeouts_total'), 0);

  // Node runtime metrics on the same registry.
  assert.ok(!Number.isNaN(metricValue(text, 'nodejs_eventloop_lag_seconds')));
  assert.ok(!Number.isNaN(metricValue(text, 'process_resident_memory_bytes')));
});

test('each app has its own registry', async () => {
  const { app: other, base: otherBase } = await startApp({});
  try {
    await post(otherBase, JSON.stringify({ property: 'news', section: 1, id: 1 }));
    const text = await (await fetch(`${otherBase}/metrics`)).text();
    assert.equal(metricValue(text, 'pageview_pushes_total'), 1);
    assert.equal(metricValue(text, 'db_client_connection_max'), 0, 'memory store has no pool');
    assert.match(text, /# HELP db_client_connection_max .*embedded in-memory store/);
  } finally {
    await other.close();
  }
});

test('request durations run from the first hook to the answer: a Push includes its commit wait', async () => {
  const HOLD_MS = 120;
  const held = await startApp({}, {
    flush: async (batch, store) => {
      await new Promise((r) => setTimeout(r, HOLD_MS));
      await flushBatch(batch, store);
    },
  });
  try {
    assert.equal((await post(held.base, JSON.stringify({ property: 'news', section: 1, id: 1 }))).status, 200);
    await fetch(`${held.base}/healthz`);
    const text = await (await fetch(`${held.base}/metrics`)).text();
    const sum = (route: string) => metricValue(text, 'http_server_request_duration_seconds_sum', { http_route: route });
    // libuv times timers from the loop's cached clock, which may lag performance.now() by up to a millisecond or
    // so: a 120 ms timer can end slightly sooner by performance.now(). 2 ms of slack; reply.elapsedTime (Fastify has
    // no logger here) would read 0.
    assert.ok(sum(PUSH_PATH) >= (HOLD_MS - 2) / 1000, `Push duration ${sum(PUSH_PATH)} s covers the ${HOLD_MS} ms flush`);
    assert.ok(sum(PUSH_PATH) < 30, 'seconds, not milliseconds');
    assert.ok(sum('/healthz') > 0 && sum('/healthz') < HOLD_MS / 1000, `health check duration ${sum('/healthz')} s`);
  } finally {
    await held.app.close();
  }
});
