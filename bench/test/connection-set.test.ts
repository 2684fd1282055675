import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionSet, type Connection, type ConnectionOwner, type ConnectionSetOptions } from '../src/executors/connection-set';
import { startTestServer } from './support/test-server';

const REQUEST = Buffer.from('POST /twirp/stats.StatsService/Push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
  'Content-Length: 38\r\n\r\n{"property":"news","section":1,"id":1}');

/** An owner that writes one Push per arrival and records what came back, in order of arrival. */
function owner(): ConnectionOwner & { set: ConnectionSet | null; done: { intended: number; status: number }[]; failures: string[]; waiters: (() => void)[] } {
  const o = {
    set: null as ConnectionSet | null,
    done: [] as { intended: number; status: number }[],
    failures: [] as string[],
    waiters: [] as (() => void)[],
    start(c: Connection, intended: number) { c.intended = intended; c.write(REQUEST); },
    connected() {},
    answered(c: Connection) {
      o.done.push({ intended: c.intended, status: c.parser.status });
      const keep = c.parser.keepAlive;
      c.busy = false;
      if (keep) o.set!.release(c); else c.destroy();
      o.waiters.splice(0).forEach((w) => w());
    },
    failed(c: Connection, code: string) { o.failures.push(code); c.busy = false; o.waiters.splice(0).forEach((w) => w()); },
    idleError(code: string) { o.failures.push(`idle:${code}`); },
  };
  return o;
}

type ServerOptions = Parameters<typeof startTestServer>[0];
type SetOptions = Omit<ConnectionSetOptions, 'host' | 'port'>;

/** A test server, an owner and a connection set to it (queue of `capacity`), closed after the test. */
async function setUp(t: TestContext, server: ServerOptions, opts: SetOptions, capacity: number) {
  const srv = await startTestServer(server);
  const o = owner();
  const conns = (o.set = new ConnectionSet(o, { host: '127.0.0.1', port: Number(new URL(srv.url).port), ...opts }, capacity));
  t.after(async () => { conns.destroy(); await srv.close(); });
  return { srv, o, conns };
}

async function until(o: ReturnType<typeof owner>, n: number): Promise<void> {
  while (o.done.length + o.failures.length < n) await new Promise<void>((r) => o.waiters.push(r));
}

test('sequential requests reuse one connection', async (t) => {
  const { srv, o, conns } = await setUp(t, { latencyMs: 1 }, { maxConnections: 50 }, 50);
  for (let i = 0; i < 20; i++) {
    conns.acquire(i);
    await until(o, i + 1);
  }
  assert.ok(o.done.every((d) => d.status === 200));
  assert.equal(srv.counts.connections, 1);
  assert.equal(conns.connections, 1);
});

test('a burst is served by at most maxConnections connections, queued arrivals first come first served', async (t) => {
  const { srv, o, conns } = await setUp(t, { latencyMs: 30 }, { maxConnections: 10, maxOpening: 4, warm: 2 }, 60);
  for (let i = 0; i < 60; i++) conns.acquire(i);
  assert.equal(conns.queued, 58, 'beyond the warm two, the burst waits');
  assert.equal(conns.oldestQueued, 2);
  await until(o, 60);
  assert.deepEqual(o.failures, []);
  assert.equal(srv.counts.requests, 60);
  assert.ok(srv.counts.connections <= 10 && srv.counts.connections >= 2, `connections ${srv.counts.connections}`);
  // first come, first served: the last ten answered were among the last queued
  assert.ok(o.done.slice(-10).every((d) => d.intended >= 40), o.done.map((d) => d.intended).join(','));
});

test('queued arrivals can be dropped oldest first; a hang-up fails the request on its connection', async (t) => {
  const { srv, o, conns } = await setUp(t, { latencyMs: 20, hangUpEvery: 2 }, { maxConnections: 1, warm: 1 }, 10);
  conns.acquire(1);
  conns.acquire(2);
  conns.acquire(3);
  assert.equal(conns.dropOldest(), 2);
  await until(o, 2);
  // request 1 answered; request 3 (the server's second) hung up
  assert.deepEqual(o.done.map((d) => d.intended), [1]);
  assert.deepEqual(o.failures, ['ECONNRESET']);
  assert.equal(srv.counts.requests, 2);
});

test('growth follows the demand: a backlog on a fast server is drained by the connections it needs, not one each', async (t) => {
  let demand = 3;
  const { srv, o, conns } = await setUp(t, { latencyMs: 0 }, { maxConnections: 500, warm: 2, demand: () => demand }, 300);
  const now = performance.now();
  for (let i = 0; i < 300; i++) conns.acquire(now);
  await until(o, 300);
  assert.deepEqual(o.failures, []);
  assert.equal(srv.counts.requests, 300);
  assert.ok(srv.counts.connections <= 3, `connections ${srv.counts.connections}`);
  assert.ok(conns.peak <= 3, `peak ${conns.peak}`);
  // the load needs more (a slower server, a higher rate): the set grows to the new demand, and no further
  demand = 40;
  for (let i = 0; i < 300; i++) conns.acquire(performance.now());
  await until(o, 600);
  assert.ok(conns.peak > 3 && conns.peak <= 40, `peak ${conns.peak}`);
});

test('connections beyond the demand stay idle: a backlog uses at most as many as the demand allows', async (t) => {
  // 60 connections opened by a burst on a slow server, then the demand falls to 4: a second burst is carried
  // by 4 connections at a time (the server sees at most 4 requests at once), the rest stay idle
  let demand = 60;
  const { srv, o, conns } = await setUp(t, { latencyMs: 30 }, { maxConnections: 500, warm: 4, demand: () => demand }, 200);
  for (let i = 0; i < 60; i++) conns.acquire(performance.now());
  await until(o, 60);
  assert.ok(conns.connections > 4, `connections ${conns.connections}`);
  demand = 4;
  let busy = 0;
  let most = 0;
  const start = o.start.bind(o);
  o.start = (c, intended) => { busy++; most = Math.max(most, busy); start(c, intended); };
  const answered = o.answered.bind(o);
  o.answered = (c) => { busy--; answered(c); };
  for (let i = 0; i < 40; i++) conns.acquire(performance.now());
  await until(o, 100);
  assert.deepEqual(o.failures, []);
  assert.equal(most, 4);
});
