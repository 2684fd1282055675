import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, INT_VARS, loadConfig } from '../src/config';

test('empty env gives the documented, bounded defaults', () => {
  const c = loadConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.mysqlUrl, undefined);
  assert.equal(c.logLevel, 'info');
  assert.deepEqual(c.allowedProperties, ['news']);
  assert.equal(c.trustProxy, false);
  assert.equal(c.pool.connectionLimit, INT_VARS.DB_POOL_MAX.def);
  assert.equal(c.pool.idleLimit, c.pool.connectionLimit);
  assert.ok(c.pool.queueLimit > 0 && c.pool.acquireTimeoutMs > 0 && c.pool.connectTimeoutMs > 0);
  assert.ok(c.batch.bufferCapacity >= c.batch.maxRows);
  // Every numeric default sits inside its own bounds.
  for (const [name, spec] of Object.entries(INT_VARS)) {
    assert.ok(spec.def >= spec.min && spec.def <= spec.max, name);
  }
});

test('one error lists every bad variable at once', () => {
  const env = {
    PORT: 'eighty',
    DB_POOL_MAX: '0',
    DB_POOL_ACQUIRE_TIMEOUT_MS: '0',
    BATCH_MAX_ROWS: '-5',
    BODY_LIMIT_BYTES: '99999999',
    LOG_LEVEL: 'loud',
    MYSQL_URL: 'postgres://x',
    TRUST_PROXY: 'yes please',
    ALLOWED_PROPERTIES: 'news,' + 'x'.repeat(33),
    BATCH_REBALANCE: 'sometimes',
  };
  let err: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.equal(err.code, 'CONFIG_INVALID');
  const names = ['PORT', 'DB_POOL_MAX', 'DB_POOL_ACQUIRE_TIMEOUT_MS', 'BATCH_MAX_ROWS', 'BODY_LIMIT_BYTES', 'LOG_LEVEL', 'MYSQL_URL', 'TRUST_PROXY', 'ALLOWED_PROPERTIES', 'BATCH_REBALANCE'];
  assert.equal(err.problems.length, names.length, err.message);
  for (const n of names) assert.ok(err.message.includes(n), `${n} missing from: ${err.message}`);
});

test('cross-field rules: idle limit <= pool limit, buffer >= batch', () => {
  assert.throws(() => loadConfig({ DB_POOL_MAX: '4', DB_POOL_IDLE_MAX: '5' }), /DB_POOL_IDLE_MAX/);
  assert.throws(() => loadConfig({ BATCH_MAX_ROWS: '100', BUFFER_CAPACITY: '50' }), /BUFFER_CAPACITY/);
  assert.throws(() => loadConfig({ DB_POOL_MAX: '2', BATCH_MAX_CONCURRENT_FLUSHES: '3' }), /BATCH_MAX_CONCURRENT_FLUSHES/);
});

test('parses lists and proxies', () => {
  const c = loadConfig({ ALLOWED_PROPERTIES: ' news, sport ,', TRUST_PROXY: '10.0.0.1,::1', MYSQL_URL: 'mysql://u:p@db:3306/stats' });
  assert.deepEqual(c.allowedProperties, ['news', 'sport']);
  assert.deepEqual(c.trustProxy, ['10.0.0.1', '::1']);
  assert.equal(c.mysqlUrl, 'mysql://u:p@db:3306/stats');
  assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
  assert.equal(loadConfig({ BATCH_FLUSH_INTERVAL_MS: '0' }).batch.flushIntervalMs, 0);
  assert.equal(loadConfig({}).batch.rebalance, true);
  assert.equal(loadConfig({ BATCH_REBALANCE: 'false' }).batch.rebalance, false);
  assert.equal(loadConfig({ BATCH_REBALANCE: ' 0 ' }).batch.rebalance, false);
  assert.equal(loadConfig({ BATCH_REBALANCE: '1' }).batch.rebalance, true);
});
