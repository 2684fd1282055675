// Durable group commit: concurrent Pushes become multi-row INSERTs; rows in the table equal acknowledged Pushes
// exactly; a failed flush fails exactly the Pushes in it; the buffer is bounded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import type { FastifyInstance } from 'fastify';
import { background } from '../src/context/context';
import { MemoryStore } from '../src/db/memory-store';
import { StoreError, type PageviewRow } from '../src/db/store';
import { BufferFullError, GroupCommitter } from '../src/pageviews/group-commit';
import { MariaDb } from './support/mariadb';
import { countRows, metricValue, PUSH_PATH, startApp } from './support/service';

let db: MariaDb;
let app: FastifyInstance;
let base: string;

before(async () => {
  db = await MariaDb.start();
  ({ app, base } = await startApp({ MYSQL_URL: db.url, BATCH_MAX_ROWS: '50', BATCH_FLUSH_INTERVAL_MS: '2' }));
});
after(async () => {
  await app?.close();
  await db?.destroy();
});

const row = (id: number): PageviewRow => ({ property: 'news', section: 1, id, remoteIp: '127.0.0.1', stampMs: Date.now() });

test('concurrent Pushes over HTTP: rows equal acknowledged Pushes, each exactly once, in multi-row batches', async () => {
  const agent = new Agent({ connections: 64 });
  const total = 2000;
  const acked: number[] = [];
  let next = 1;
  try {
    // 64 workers, each sending Pushes one after another over keep-alive connections.
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next <= total) {
          const id = next++;
          const res = await request(base + PUSH_PATH, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ property: 'news', section: 5, id }),
          });
          await res.body.text();
          if (res.statusCode === 200) acked.push(id);
        }
      }),
    );
  } finally {
    await agent.close();
  }
  assert.equal(acked.length, total);
  const rows = await db.sql('SELECT property_id, COUNT(*) FROM test.incoming WHERE property_section = 5 GROUP BY property_id HAVING COUNT(*) <> 1');
  assert.deepEqual(rows, [], 'an id stored twice');
  assert.equal(await countRows((s) => db.sql(s), 'property_section = 5'), acked.length);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const flushes = metricValue(metrics, 'pageview_batch_size_count');
  assert.equal(metricValue(metrics, 'pageview_rows_committed_total'), total);
  assert.ok(flushes < total / 2, `expected multi-row batches, got ${flushes} flushes for ${total} rows`);
});

test('a failed flush fails exactly its Pushes; the next flush succeeds', async () => {
  const store = new MemoryStore(1000);
  let calls = 0;
  const failing = Object.create(store) as MemoryStore;
  failing.insertBatch = async (rows) => {
    calls += 1;
    if (calls === 2) throw new StoreError('unavailable', 'ECONNRESET', 'database unavailable');
    return store.insertBatch(rows);
  };
  const c = new GroupCommitter(failing, { maxRows: 3, flushIntervalMs: 1000, maxConcurrentFlushes: 1, bufferCapacity: 100, rebalance: true });
  const results = await Promise.allSettled([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => c.write(background(), row(i))));
  await c.close();
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i + 1] : []));
  assert.deepEqual(failed, [4, 5, 6]);
  for (const i of [3, 4, 5]) {
    const r = results[i]!;
    assert.ok(r.status === 'rejected' && r.reason instanceof StoreError && r.reason.failure === 'unavailable');
  }
  assert.equal(store.size, 6);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => store.row(i)!.id), [1, 2, 3, 7, 8, 9]);
});

test('the buffer is bounded: beyond capacity, writes are refused at once', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const store = new MemoryStore(1000);
  const slow = Object.create(store) as MemoryStore;
  slow.insertBatch = async (rows) => {
    await gate;
    return store.insertBatch(rows);
  };
  const c = new GroupCommitter(slow, { maxRows: 2, flushIntervalMs: 0, maxConcurrentFlushes: 1, bufferCapacity: 4, rebalance: true });
  const first = [c.write(background(), row(1)), c.write(background(), row(2))]; // flushed at once, held by the gate
  const buffered = [3, 4, 5, 6].map((i) => c.write(background(), row(i)));
  assert.equal(c.depth, 4);
  await assert.rejects(c.write(background(), row(7)), BufferFullError);
  release();
  await Promise.all([...first, ...buffered]);
  await c.close();
  assert.equal(store.size, 6);
});

test('close() flushes everything buffered and refuses new writes', async () => {
  const store = new MemoryStore(100);
  const c = new GroupCommitter(store, { maxRows: 10, flushIntervalMs: 1000, maxConcurrentFlushes: 1, bufferCapacity: 100, rebalance: true });
  const pending = [1, 2, 3].map((i) => c.write(background(), row(i)));
  await c.close();
  await Promise.all(pending);
  assert.equal(store.size, 3);
  await assert.rejects(c.write(background(), row(4)), { code: 'COMMITTER_CLOSED' });
});

/** A store whose flushes wait for the test to release them, recording each batch's ids. */
function gatedStore(): { store: MemoryStore; gated: MemoryStore; batches: number[][]; release: () => void; held: () => number } {
  const store = new MemoryStore(10_000);
  const gates: Array<() => void> = [];
  const batches: number[][] = [];
  const gated = Object.create(store) as MemoryStore;
  gated.insertBatch = async (rows) => {
    batches.push(rows.map((r) => r.id));
    await new Promise<void>((r) => gates.push(r));
    return store.insertBatch(rows);
  };
  // release() lets the oldest held flush finish (none held: nothing happens).
  return { store, gated, batches, release: () => gates.shift()?.(), held: () => gates.length };
}

test('one partial flush at a time gathers the next batch; full batches run side by side', async () => {
  const { store, gated, batches, release, held } = gatedStore();
  const c = new GroupCommitter(gated, { maxRows: 4, flushIntervalMs: 0, maxConcurrentFlushes: 3, bufferCapacity: 100, rebalance: true });
  const tick = () => new Promise((r) => setImmediate(r));
  const all: Array<Promise<void>> = [c.write(background(), row(1))];
  await tick();
  assert.deepEqual(batches, [[1]], 'a lone Push is written on the next turn');
  // While that partial flush runs, more Pushes gather instead of starting their own flushes...
  all.push(c.write(background(), row(2)), c.write(background(), row(3)));
  await tick();
  await tick();
  assert.deepEqual(batches, [[1]]);
  assert.equal(c.depth, 2);
  // ...unless they fill a whole batch: that one goes at once, beside the partial flush.
  all.push(...[4, 5].map((i) => c.write(background(), row(i))));
  assert.deepEqual(batches, [[1], [2, 3, 4, 5]]);
  all.push(c.write(background(), row(6)));
  await tick();
  assert.equal(c.flushesInFlight, 2);
  // The partial flush ends: what gathered meanwhile is written together, right away.
  all.push(c.write(background(), row(7)));
  release();
  for (let i = 0; i < 5 && batches.length < 3; i++) await tick();
  assert.deepEqual(batches[2], [6, 7]);
  while (held() > 0 || c.flushesInFlight > 0) {
    release();
    await tick();
  }
  await Promise.all(all);
  await c.close();
  assert.equal(store.size, 7);
});

test('a commit callback that throws does not keep the rest of its batch from being answered', async () => {
  const store = new MemoryStore(100);
  const thrown: unknown[] = [];
  const c = new GroupCommitter(
    store,
    { maxRows: 3, flushIntervalMs: 1000, maxConcurrentFlushes: 1, bufferCapacity: 100, rebalance: true },
    { onCallbackError: (err) => thrown.push(err) },
  );
  const answered: number[] = [];
  for (const i of [1, 2, 3]) {
    c.enqueue(background(), row(i), (err) => {
      assert.equal(err, undefined);
      if (i === 2) throw new Error('reply failed');
      answered.push(i);
    });
  }
  await c.close();
  assert.deepEqual(answered, [1, 3]);
  assert.equal(thrown.length, 1);
  assert.equal(store.size, 3);
  // And the committer still works afterwards.
  await assert.rejects(c.write(background(), row(4)), { code: 'COMMITTER_CLOSED' });
});

test('the next batch is handed to the store before the finished batch is answered', async () => {
  const store = new MemoryStore(100);
  const events: string[] = [];
  const gates: Array<() => void> = [];
  const gated = Object.create(store) as MemoryStore;
  gated.insertBatch = async (rows) => {
    events.push(`insert ${rows.map((r) => r.id).join(',')}`);
    await new Promise<void>((r) => gates.push(r));
    return store.insertBatch(rows);
  };
  const c = new GroupCommitter(gated, { maxRows: 10, flushIntervalMs: 0, maxConcurrentFlushes: 2, bufferCapacity: 100, rebalance: true });
  const tick = () => new Promise((r) => setImmediate(r));
  const answered = (id: number) => (err?: StoreError) => events.push(err === undefined ? `answer ${id}` : `fail ${id}`);
  c.enqueue(background(), row(1), answered(1));
  await tick();
  c.enqueue(background(), row(2), answered(2));
  c.enqueue(background(), row(3), answered(3));
  gates.shift()!();
  for (let i = 0; i < 5 && !events.includes('answer 1'); i++) await tick();
  assert.deepEqual(events, ['insert 1', 'insert 2,3', 'answer 1']);
  gates.shift()!();
  await c.close();
  assert.deepEqual(events.slice(3), ['answer 2', 'answer 3']);
  assert.equal(store.size, 3);
});

async function rebalanceRun(rebalance: boolean): Promise<{ batches: number[][]; stored: number }> {
  const { store, gated, batches, release } = gatedStore();
  const c = new GroupCommitter(gated, { maxRows: 500, flushIntervalMs: 0, maxConcurrentFlushes: 2, bufferCapacity: 1000, rebalance });
  const tick = () => new Promise((r) => setImmediate(r));
  const all: Array<Promise<void>> = [];
  const push = (from: number, to: number) => {
    for (let i = from; i <= to; i++) all.push(c.write(background(), row(i)));
  };
  // A closed loop caught in a lopsided split: 10 rows in the flush, 90 gathered behind it.
  push(1, 10);
  await tick();
  push(11, 100);
  release();
  for (let i = 0; i < 5 && batches.length < 2; i++) await tick();
  // The 10 answered clients send again while the second flush runs.
  push(101, 110);
  release();
  for (let i = 0; i < 5 && batches.length < 3; i++) await tick();
  while (c.flushesInFlight > 0) {
    release();
    await tick();
  }
  await Promise.all(all);
  await c.close();
  return { batches, stored: store.size };
}

test('a lopsided split of the rows in flight is evened out: half of both batches goes, the rest with the next flush', async () => {
  const on = await rebalanceRun(true);
  assert.deepEqual(on.batches.map((b) => b.length), [10, 50, 50]);
  // In arrival order, each row exactly once.
  assert.deepEqual(on.batches.flat(), Array.from({ length: 110 }, (_, i) => i + 1));
  assert.equal(on.stored, 110);
  // BATCH_REBALANCE=false keeps the plain cycle: everything that gathered goes at once.
  const off = await rebalanceRun(false);
  assert.deepEqual(off.batches.map((b) => b.length), [10, 90, 10]);
  assert.equal(off.stored, 110);
});

test('nothing is held back at low load or when the split is nearly even', async () => {
  for (const [first, gathered] of [
    [1, 3],
    [1, 8],
    [10, 19],
    [40, 60],
  ] as const) {
    const { store, gated, batches, release } = gatedStore();
    const c = new GroupCommitter(gated, { maxRows: 500, flushIntervalMs: 0, maxConcurrentFlushes: 1, bufferCapacity: 1000, rebalance: true });
    const all: Array<Promise<void>> = [];
    for (let i = 1; i <= first; i++) all.push(c.write(background(), row(i)));
    await new Promise((r) => setImmediate(r));
    for (let i = first + 1; i <= first + gathered; i++) all.push(c.write(background(), row(i)));
    release();
    for (let i = 0; i < 5 && batches.length < 2; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches.map((b) => b.length), [first, gathered], `${first} then ${gathered}`);
    release();
    await Promise.all(all);
    await c.close();
    assert.equal(store.size, first + gathered);
  }
});
