// No MYSQL_URL: a bounded in-memory store behind the same interface, announced loudly at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { MemoryStore } from '../src/db/memory-store';
import { createLogger } from '../src/telemetry/logging';
import { encodePush, post, startApp } from './support/service';

test('the embedded store is announced, serves Push in both encodings and refuses writes when full', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()));
      cb();
    },
  });
  const { app, base } = await startApp({ MEMORY_STORE_CAPACITY: '3' }, { logger: createLogger({ logLevel: 'info' }, stream) });
  try {
    const warn = lines.find((l) => l.level === 40 && /EMBEDDED IN-MEMORY STORE/.test(String(l.msg)));
    assert.ok(warn, 'a warning names the embedded store');
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await post(base, JSON.stringify({ property: 'news', section: 1, id: 1 }))).status, 200);
    assert.equal((await post(base, encodePush({ property: 'news', section: 2, id: 2 }), 'application/protobuf')).status, 200);
    assert.equal((await post(base, JSON.stringify({ property: 'news', section: 3, id: 3 }))).status, 200);
    const full = await post(base, JSON.stringify({ property: 'news', section: 4, id: 4 }));
    assert.equal(full.status, 429);
    assert.equal(full.json.code, 'resource_exhausted');
    assert.equal((await post(base, JSON.stringify({ property: 'news', section: 0, id: 4 }))).json.code, 'invalid_argument');
    const store = app.store as MemoryStore;
    assert.equal(store.size, 3);
    assert.deepEqual([0, 1, 2].map((i) => store.row(i)!.section), [1, 2, 3]);
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
  } finally {
    await app.close();
  }
});

test('the embedded store keeps idempotency keys as the table does: duplicates in a batch and later add nothing', async () => {
  const { app, base } = await startApp({ MEMORY_STORE_CAPACITY: '4', BATCH_FLUSH_INTERVAL_MS: '40' });
  try {
    const push = (id: number, key?: string) =>
      post(base, JSON.stringify({ property: 'news', section: 1, id }), 'application/json', undefined, key === undefined ? {} : { 'idempotency-key': key });
    const answers = await Promise.all([push(1, 'k1'), push(1, 'k1'), push(1, 'k1'), push(2), push(3, 'K1')]);
    for (const a of answers) assert.equal(a.status, 200, a.body.toString());
    const store = app.store as MemoryStore;
    assert.equal(store.size, 3);
    // Full as far as fresh rows go, yet a retry of a stored key is still answered ok: it stores nothing.
    assert.equal((await push(4, 'k4')).status, 200);
    assert.equal(store.size, 4);
    assert.equal((await push(1, 'k1')).status, 200);
    assert.equal((await push(5, 'k5')).json.code, 'resource_exhausted');
    assert.equal(store.size, 4);
    assert.equal(store.row(store.rowIndexOfKey('k1')!)!.id, 1);
  } finally {
    await app.close();
  }
});
