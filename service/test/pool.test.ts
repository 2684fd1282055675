// The bounded pool on a real MariaDB: limit, queue limit, acquire timeout, idle limit and timeout, dead
// connections dropped and counted. Every failure is a PoolError or mysql2 error with a stable code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolConfig } from '../src/config';
import { MysqlPool, PoolError, type PoolObserver } from '../src/db/pool';
import { MariaDb } from './support/mariadb';

let db: MariaDb;
before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  await db?.destroy();
});

const cfg = (over: Partial<PoolConfig> = {}): PoolConfig => ({
  connectionLimit: 2,
  idleLimit: 2,
  idleTimeoutMs: 60_000,
  queueLimit: 1,
  acquireTimeoutMs: 200,
  connectTimeoutMs: 2_000,
  queryTimeoutMs: 5_000,
  ...over,
});

function recorder(): PoolObserver & { waits: number[]; timeouts: number; errors: string[] } {
  const r = {
    waits: [] as number[],
    timeouts: 0,
    errors: [] as string[],
    onAcquire: (s: number) => r.waits.push(s),
    onAcquireTimeout: () => (r.timeouts += 1),
    onConnectionError: (code: string, errno: number | undefined) => r.errors.push(`${code}/${errno ?? 'none'}`),
  };
  return r;
}

test('limit, bounded queue and acquire timeout', async () => {
  const obs = recorder();
  const pool = new MysqlPool(db.url, cfg(), obs);
  try {
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.deepEqual(await a.query('SELECT 1 AS one'), [{ one: 1 }]);
    const waiting = pool.acquire();
    assert.equal(pool.stats().pending, 1);
    await assert.rejects(pool.acquire(), (e: unknown) => e instanceof PoolError && e.code === 'POOL_QUEUE_FULL');
    await assert.rejects(waiting, (e: unknown) => e instanceof PoolError && e.code === 'POOL_ACQUIRE_TIMEOUT');
    assert.equal(obs.timeouts, 1);
    assert.equal(pool.stats().pending, 0);
    const s = pool.stats();
    assert.equal(s.used, 2);
    assert.ok(s.used + s.idle <= s.max);
    // A release hands the connection straight to the next waiter.
    const next = pool.acquire();
    a.release();
    const c = await next;
    assert.deepEqual(await c.query('SELECT 2 AS two'), [{ two: 2 }]);
    c.release();
    b.release();
    assert.deepEqual(pool.stats(), { idle: 2, used: 0, connecting: 0, max: 2, pending: 0 });
  } finally {
    await pool.close();
  }
});

test('queue limit 0 means no waiting at all', async () => {
  const pool = new MysqlPool(db.url, cfg({ connectionLimit: 1, queueLimit: 0 }));
  try {
    const a = await pool.acquire();
    await assert.rejects(pool.acquire(), { code: 'POOL_QUEUE_FULL' });
    a.release();
  } finally {
    await pool.close();
  }
});

test('idle limit and idle timeout close surplus connections', async () => {
  const pool = new MysqlPool(db.url, cfg({ connectionLimit: 3, idleLimit: 1, idleTimeoutMs: 1_000 }));
  try {
    const conns = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    for (const c of conns) c.release();
    assert.equal(pool.stats().idle, 1);
    for (let i = 0; i < 200 && pool.stats().idle > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.stats().idle, 0, 'idle connection reaped after the idle timeout');
  } finally {
    await pool.close();
  }
});

test('a connection killed by the server is dropped and counted; the next acquire works', async () => {
  const obs = recorder();
  const pool = new MysqlPool(db.url, cfg(), obs);
  try {
    const a = await pool.acquire();
    const [{ id }] = await a.query<Array<{ id: number }>>('SELECT CONNECTION_ID() AS id');
    a.release();
    await db.sql(`KILL ${id}`);
    for (let i = 0; i < 200 && pool.stats().idle > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pool.stats().idle, 0);
    assert.equal(obs.errors.length, 1, obs.errors.join());
    const b = await pool.acquire();
    assert.deepEqual(await b.query('SELECT 3 AS three'), [{ three: 3 }]);
    b.release();
  } finally {
    await pool.close();
  }
});

test('an unreachable server fails fast with ECONNREFUSED, counted', async () => {
  const obs = recorder();
  const pool = new MysqlPool('mysql://root@127.0.0.1:1/test', cfg(), obs);
  try {
    await assert.rejects(pool.acquire(), { code: 'ECONNREFUSED' });
    assert.deepEqual(obs.errors, ['ECONNREFUSED/-111']);
    assert.equal(pool.stats().connecting, 0);
  } finally {
    await pool.close();
  }
});

test('close rejects waiters and later acquires', async () => {
  const pool = new MysqlPool(db.url, cfg({ connectionLimit: 1, acquireTimeoutMs: 5_000 }));
  const a = await pool.acquire();
  const waiting = pool.acquire();
  await pool.close();
  await assert.rejects(waiting, { code: 'POOL_CLOSED' });
  await assert.rejects(pool.acquire(), { code: 'POOL_CLOSED' });
  a.release();
});
