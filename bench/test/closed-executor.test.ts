import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runClosedStage } from '../src/executors/closed';
import { closedRampPlan, connectionsAt } from '../src/executors/closed-ramp';
import type { StageContext } from '../src/executors/stage-context';
import type { RequestSpec, StageSnapshot, StageSpec } from '../src/types';
import { startTestServer } from './support/test-server';
import { addInterval, emptyInterval, type Interval } from '../src/metrics/interval';
import { freePort } from '../src/target/service-process';

const request = (over: Partial<RequestSpec> = {}): RequestSpec => ({
  properties: ['news', 'sport'], sections: 100, ids: 100_000, invalidShare: 0, seed: 7, contentType: 'json', timeoutMs: 5000, traceSampleRate: 0.01, ...over,
});

function stage(over: Partial<StageSpec>): StageSpec {
  return { name: 'hold', durationMs: 2000, model: 'closed', connections: 4, thresholds: [], ...over };
}

function ctx(target: string, s: StageSpec, over: Partial<StageContext> = {}, ticks: StageSnapshot[] = []): StageContext {
  return {
    target, request: request(), runId: 'run-closed', signal: new AbortController().signal,
    stage: { index: 0, name: s.name, model: 'closed', durationMs: s.durationMs },
    onTick: (snap) => ticks.push(snap),
    ...over,
  };
}

test('a steady 100 ms server measures p50 ~ 100 ms (no coordinated-omission skew), at microsecond resolution', async (t) => {
  const srv = await startTestServer({ latencyMs: 100 });
  t.after(() => srv.close());
  const s = stage({ connections: 10, durationMs: 2000 });
  const ticks: StageSnapshot[] = [];
  const r = await runClosedStage(s, ctx(srv.url, s, {}, ticks));
  assert.ok(r.counts.completed >= 50, `completed ${r.counts.completed}`);
  // never below the server's 100 ms (autocannon's correction would report ~52 ms); no upper bound: the machine
  // is shared, and noise only adds
  assert.ok(r.latency_ms.p50 >= 99.5, `p50 ${r.latency_ms.p50}`);
  assert.ok(r.latency_ms.p90 >= 99.5, `p90 ${r.latency_ms.p90}`);
  assert.ok(r.latency_ms.mean >= 99.5, `mean ${r.latency_ms.mean}`);
  // not whole milliseconds: autocannon's own histogram would give integers only
  assert.ok([r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.max, r.latency_ms.mean].some((v) => !Number.isInteger(v)));
  assert.equal(r.counts.ok, r.counts.completed);
  assert.deepEqual(r.by_twirp_code, { ok: r.counts.completed });
  assert.equal(r.model, 'closed');
  assert.equal(r.rate.target, null);
  assert.ok(r.rate.achieved > 0);
  assert.ok(r.bytes.sent > 0 && r.bytes.received > 0);
  // ticks about once a second plus one at the end, cumulative
  assert.ok(ticks.length >= 2, `ticks ${ticks.length}`);
  assert.equal(ticks.at(-1)?.counts.completed, r.counts.completed);
  // at most one request per connection is still in flight at the end
  assert.ok(r.counts.sent - r.counts.completed <= 10);
});

test('every request carries a fresh traceparent, the run and stage headers and a seeded body', async (t) => {
  const srv = await startTestServer({ latencyMs: 1, keep: 500 });
  t.after(() => srv.close());
  const s = stage({ name: 'headers', connections: 2, durationMs: 500 });
  await runClosedStage(s, ctx(srv.url, s));
  const recent = srv.counts.recent;
  assert.ok(recent.length >= 20);
  const traces = new Set<string>();
  for (const req of recent) {
    assert.match(String(req.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    traces.add(String(req.headers.traceparent).slice(3, 35));
    assert.equal(req.headers['x-bench-run'], 'run-closed');
    assert.equal(req.headers['x-bench-stage'], 'headers');
    assert.equal(req.headers['content-type'], 'application/json');
    const body = JSON.parse(req.body.toString()) as { property: string; section: number; id: number };
    assert.ok(['news', 'sport'].includes(body.property));
  }
  assert.equal(traces.size, recent.length);
  assert.ok(new Set(recent.map((r) => r.body.toString())).size > recent.length * 0.9);
});

test('Twirp codes, statuses and hang-ups are classified and agree with what the server did', async (t) => {
  const srv = await startTestServer({
    latencyMs: 2,
    errors: [{ code: 'unavailable', every: 10 }, { code: 'invalid_argument', every: 7 }],
    hangUpEvery: 23,
  });
  t.after(() => srv.close());
  const s = stage({ connections: 4, durationMs: 1500 });
  const r = await runClosedStage(s, ctx(srv.url, s));
  const c = srv.counts;
  assert.ok(r.counts.completed > 100, `completed ${r.counts.completed}`);
  // the client can only miss what was in flight when the stage ended (one per connection)
  const near = (client: number, server: number, what: string) =>
    assert.ok(client <= server && server - client <= 4, `${what}: client ${client} server ${server}`);
  near(r.by_twirp_code.ok ?? 0, c.byCode.ok ?? 0, 'ok');
  near(r.by_twirp_code.unavailable ?? 0, c.byCode.unavailable ?? 0, 'unavailable');
  near(r.by_twirp_code.invalid_argument ?? 0, c.byCode.invalid_argument ?? 0, 'invalid_argument');
  near(r.by_error_code.ECONNRESET ?? 0, c.hangUps, 'hang-ups');
  assert.equal(r.by_status['503'], r.by_twirp_code.unavailable);
  assert.equal(r.by_status['400'], r.by_twirp_code.invalid_argument);
  assert.ok((r.by_error_code.ECONNRESET ?? 0) > 0);
  assert.equal(r.counts.errors, r.counts.completed - r.counts.ok + (r.by_error_code.ECONNRESET ?? 0) + r.counts.timeouts);
  assert.ok(Math.abs(r.counts.sent - c.requests) <= 4, `sent ${r.counts.sent} server ${c.requests}`);
});

test('a request without an answer within the timeout counts as a timeout, not ok', async (t) => {
  const srv = await startTestServer({ latencyMs: 3000 });
  t.after(() => srv.close());
  const s = stage({ connections: 2, durationMs: 1200 });
  const c = ctx(srv.url, s);
  c.request = request({ timeoutMs: 300 });
  const r = await runClosedStage(s, c);
  assert.ok(r.counts.timeouts >= 2, `timeouts ${r.counts.timeouts}`);
  assert.equal(r.counts.ok, 0);
  assert.equal(r.counts.errors, r.counts.timeouts);
});

test('a ramp adds connections in steps without dropping the open ones', async (t) => {
  const srv = await startTestServer({ latencyMs: 50 });
  t.after(() => srv.close());
  const s = stage({ name: 'ramp', connections: 1, rampTo: 8, durationMs: 4000 });
  const ticks: StageSnapshot[] = [];
  const r = await runClosedStage(s, ctx(srv.url, s, {}, ticks));
  assert.equal(srv.counts.connections, 8);
  // answers per ms up to the first snapshot (~2 connections on average in the first second) against the rest of
  // the stage (~6 on average from 1 s to 4 s): a ratio of connections, whatever the machine's speed
  assert.ok(ticks.length >= 2, `ticks ${ticks.length}`);
  const first = ticks[0];
  const last = ticks[ticks.length - 1];
  const early = first.counts.completed / first.elapsedMs;
  const later = (last.counts.completed - first.counts.completed) / (last.elapsedMs - first.elapsedMs);
  assert.ok(later > early * 2, `early ${early * 1000}/s later ${later * 1000}/s`);
  assert.equal(ticks.at(-1)!.counts.completed, r.counts.completed);
});

test('the ramp plan is a staircase whose time average follows the linear ramp', () => {
  const up = closedRampPlan(100, 400, 10_000);
  assert.equal(connectionsAt(up, 0), 100);
  assert.equal(connectionsAt(up, 9_999), 400);
  assert.equal(up.length, 11); // base + one step per second
  const down = closedRampPlan(400, 100, 10_000);
  assert.equal(connectionsAt(down, 0), 400);
  assert.equal(connectionsAt(down, 9_999), 100);
  for (const plan of [up, down]) {
    let area = 0;
    for (let t = 0; t < 10_000; t += 10) area += connectionsAt(plan, t);
    assert.ok(Math.abs(area / 1000 - 250) < 2, `mean ${area / 1000}`);
  }
  assert.deepEqual(closedRampPlan(5, undefined, 1000), [{ connections: 5, startMs: 0, stopMs: 1000 }]);
  assert.equal(closedRampPlan(0, 30, 60_000, 20).length, 20);
});

test('abort ends the stage at once', async (t) => {
  const srv = await startTestServer({ latencyMs: 5 });
  t.after(() => srv.close());
  const s = stage({ connections: 2, durationMs: 60_000 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  const r = await runClosedStage(s, ctx(srv.url, s, { signal: ac.signal }));
  assert.ok(r.duration_ms < 30_000, `duration ${r.duration_ms}`);
  assert.ok(r.counts.completed > 0);
});

test('connection refused is counted by code, with a back-off instead of a reconnect spin', async () => {
  const port = await freePort();
  const s = stage({ connections: 1, durationMs: 300 });
  const r = await runClosedStage(s, ctx(`http://127.0.0.1:${port}`, s));
  assert.ok((r.by_error_code.ECONNREFUSED ?? 0) > 0, JSON.stringify(r.by_error_code));
  assert.equal(r.counts.ok, 0);
  assert.equal(r.counts.timeouts, 0);
  assert.equal(r.counts.errors, r.by_error_code.ECONNREFUSED);
  // 10, 20, 40, 80, 160 ms between attempts: a handful in 300 ms (an immediate reconnect makes hundreds)
  assert.ok(r.counts.sent <= 12, `sent ${r.counts.sent}`);
});

test('a target that comes back mid-stage is used again', async (t) => {
  const port = await freePort();
  const s = stage({ connections: 2, durationMs: 1500 });
  let srv: Awaited<ReturnType<typeof startTestServer>> | null = null;
  const late = setTimeout(() => {
    void startTestServer({ port, latencyMs: 1 }).then((x) => { srv = x; });
  }, 400);
  t.after(async () => {
    clearTimeout(late);
    await (srv as { close(): Promise<void> } | null)?.close();
  });
  const r = await runClosedStage(s, ctx(`http://127.0.0.1:${port}`, s));
  assert.ok((r.by_error_code.ECONNREFUSED ?? 0) > 0);
  assert.ok(r.counts.ok > 20, `ok ${r.counts.ok}`);
});

test('segments: connections split as integers that sum to the stage\'s (5 over 3 = 2, 2, 1)', async (t) => {
  const servers = await Promise.all([0, 1, 2].map(() => startTestServer({ latencyMs: 2 })));
  t.after(() => Promise.all(servers.map((x) => x.close())));
  const s = stage({ connections: 5, durationMs: 600 });
  const results = await Promise.all(servers.map((srv, index) => runClosedStage(s, ctx(srv.url, s, { segment: { index, count: 3 } }))));
  assert.deepEqual(servers.map((x) => x.counts.connections), [2, 2, 1]);
  assert.ok(results.every((r) => r.counts.ok > 0));
  // worker 6 of 7 has no connection of the 2: it idles through the stage and reports nothing sent
  const idle = stage({ connections: 2, durationMs: 600 });
  const r = await runClosedStage(idle, ctx(servers[0].url, idle, { segment: { index: 6, count: 7 } }));
  assert.equal(r.counts.sent, 0);
  assert.ok(r.duration_ms >= 590, `duration ${r.duration_ms}`);
});

test('closed model: intervals add up to the stage; the worst requests carry the trace ids the server saw', async (t) => {
  const srv = await startTestServer({ latencyMs: 1, errors: [{ code: 'unavailable', every: 5 }], keep: 10_000 });
  t.after(() => srv.close());
  const s = stage({ connections: 2, durationMs: 1500 });
  const ivs: Interval[] = [];
  const r = await runClosedStage(s, ctx(srv.url, s, { onInterval: (iv) => ivs.push(iv) }));
  const sum = emptyInterval(0, 'closed');
  for (const iv of ivs) addInterval(sum, iv);
  assert.ok(ivs.length >= 2);
  assert.deepEqual(sum.counts, r.counts);
  assert.equal(sum.scheduled, r.counts.sent);
  assert.equal(sum.latency.totalCount, r.counts.completed);
  assert.equal(sum.serviceTime, null);
  const seen = new Set(srv.counts.recent.map((q) => String(q.headers.traceparent).slice(3, 35)));
  const w = r.worst!;
  assert.equal(w.failed.length, 20);
  assert.ok(w.failed.every((f) => f.status === 503 && f.twirp_code === 'unavailable' && seen.has(f.trace_id)), JSON.stringify(w.failed[0]));
  assert.ok(w.slowest.length === 20 && w.slowest.every((x) => seen.has(x.trace_id) && x.at_ms >= 0));
  for (let i = 1; i < w.failed.length; i++) assert.ok(w.failed[i - 1].at_ms <= w.failed[i].at_ms);
});
