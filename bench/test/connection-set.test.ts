import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'undici';
import { ConnectionSet, type Waiter } from '../src/executors/connection-set';
import { startTestServer } from './support/test-server';

/** Sends one Push on the connection it is given and resolves with the status. */
function waiter(conns: ConnectionSet, done: (status: number) => void): Waiter {
  const w: Waiter = {
    done: false,
    use(client: Client) {
      let status = 0;
      client.dispatch({ path: '/twirp/stats.StatsService/Push', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"property":"news","section":1,"id":1}' }, {
        onConnect() {},
        onHeaders(s: number) { status = s; return true; },
        onData() { return true; },
        onComplete() { w.done = true; conns.release(client); done(status); },
        onError() { w.done = true; conns.release(client); done(0); },
      } as never);
    },
  };
  return w;
}

test('sequential requests reuse one connection', async (t) => {
  const srv = await startTestServer({ latencyMs: 1 });
  const conns = new ConnectionSet(srv.url, { maxConnections: 50 });
  t.after(async () => { await conns.destroy(); await srv.close(); });
  for (let i = 0; i < 20; i++) {
    const status = await new Promise<number>((resolve) => conns.acquire(waiter(conns, resolve)));
    assert.equal(status, 200);
  }
  assert.equal(srv.counts.connections, 1);
  assert.equal(conns.connections, 1);
});

test('a burst is served by at most maxConnections connections, queued waiters in order', async (t) => {
  const srv = await startTestServer({ latencyMs: 30 });
  const conns = new ConnectionSet(srv.url, { maxConnections: 10, maxOpening: 4, warm: 2 });
  t.after(async () => { await conns.destroy(); await srv.close(); });
  const order: number[] = [];
  const all = Array.from({ length: 60 }, (_, i) => new Promise<number>((resolve) => {
    conns.acquire(waiter(conns, (s) => { order.push(i); resolve(s); }));
  }));
  assert.ok(conns.queued > 0, 'the burst waits for connections');
  const statuses = await Promise.all(all);
  assert.ok(statuses.every((s) => s === 200));
  assert.equal(srv.counts.requests, 60);
  assert.ok(srv.counts.connections <= 10, `connections ${srv.counts.connections}`);
  assert.ok(srv.counts.connections >= 2);
  // first come, first served: the last ten to finish were among the last queued
  assert.ok(order.slice(-10).every((i) => i >= 40), `order ${order.join(',')}`);
});

test('a waiter that gave up while queued is skipped', async (t) => {
  const srv = await startTestServer({ latencyMs: 50 });
  const conns = new ConnectionSet(srv.url, { maxConnections: 1, warm: 1 });
  t.after(async () => { await conns.destroy(); await srv.close(); });
  const first = new Promise<number>((resolve) => conns.acquire(waiter(conns, resolve)));
  let used = false;
  const quitter: Waiter = { done: false, use() { used = true; } };
  conns.acquire(quitter);
  quitter.done = true;
  const third = new Promise<number>((resolve) => conns.acquire(waiter(conns, resolve)));
  assert.equal(await first, 200);
  assert.equal(await third, 200);
  assert.equal(used, false);
  assert.equal(srv.counts.requests, 2);
});
