// The `prometheus` output against a capture server (the exact wire format) and against a real Prometheus
// (Debian's 2.42 with --web.enable-remote-write-receiver), plus the failure modes: Prometheus down, and a
// Prometheus that never answers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import {
  prometheusRemoteWriteOutput,
  RemoteWriteError,
  REMOTE_WRITE_ERROR_CODES,
  normaliseLabels,
  type PrometheusRemoteWriteOptions,
} from '../src/outputs/prometheus-remote-write';
import type { BenchEvent, RunInfo, StageInfo, StageSnapshot, Summary } from '../src/types';
import { BUCKETS_SECONDS } from '../src/metrics/latency-histogram';
import { Prometheus } from './support/prometheus';
import { freePort } from '../../service/test/support/mariadb';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const snappy = require('snappyjs') as { uncompress(b: Uint8Array): Uint8Array };
const WriteRequest = protobuf
  .loadSync(join(__dirname, '..', 'src', 'outputs', 'remote-write.proto'))
  .lookupType('prometheus.WriteRequest');

interface DecodedSeries {
  labels: { name: string; value: string }[];
  samples: { value: number; timestamp: number }[];
}

const silent = { warn() {}, info() {} };

function runInfo(runId: string, stages: StageInfo[]): RunInfo {
  return { runId, profile: 'smoke', target: 'http://127.0.0.1:1', startedAt: Date.now(), stages };
}

function stage(index: number, name: string): StageInfo {
  return { index, name, model: 'open', durationMs: 1000 };
}

/** A cumulative snapshot where `n` requests completed: 90% ok, 10% resource_exhausted, latencies spread. */
function snapshot(n: number, inFlight = 3): StageSnapshot {
  const ok = Math.round(n * 0.9);
  const err = n - ok;
  const buckets = [...BUCKETS_SECONDS, Number.POSITIVE_INFINITY].map((le, i) => ({
    le,
    count: Math.min(n, Math.round((n * (i + 1)) / 6)),
  }));
  buckets[buckets.length - 1]!.count = n;
  return {
    elapsedMs: n * 10,
    counts: { sent: n + inFlight, completed: n, ok, errors: err, timeouts: 0, dropped: 1 },
    inFlight,
    targetRate: 100,
    achievedRate: 95,
    by_status: { '200': ok, '503': err },
    by_twirp_code: { ok, resource_exhausted: err },
    by_error_code: err > 0 ? { twirp_resource_exhausted: err } : {},
    latency_ms: { p50: 1, p90: 2, p99: 3, p999: 4, max: 5, mean: 1.5 },
    latencyBuckets: buckets,
    latencySumSeconds: n * 0.002,
    latencyCount: n,
  };
}

function summary(runId: string): Summary {
  return {
    run_id: runId,
    profile: 'smoke',
    target: 'http://127.0.0.1:1',
    started_at: new Date().toISOString(),
    ended_at: new Date().toISOString(),
    passed: true,
    aborted: false,
    thresholds: [],
    stages: [],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Capture {
  server: Server;
  url: string;
  requests: { headers: IncomingMessage['headers']; series: DecodedSeries[] }[];
}

async function captureServer(): Promise<Capture> {
  const requests: Capture['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = snappy.uncompress(Buffer.concat(chunks));
      const msg = WriteRequest.toObject(WriteRequest.decode(raw), { longs: Number, defaults: true }) as {
        timeseries: DecodedSeries[];
      };
      requests.push({ headers: req.headers, series: msg.timeseries });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${addr.port}/api/v1/write`, requests };
}

const labelsOf = (s: DecodedSeries) => Object.fromEntries(s.labels.map((l) => [l.name, l.value]));

test('bad options fail at construction with a stable code', () => {
  const bad: PrometheusRemoteWriteOptions[] = [
    { url: 'not a url' },
    { url: 'ftp://127.0.0.1/x' },
    { url: 'http://127.0.0.1:9/x', intervalMs: -1 },
    { url: 'http://127.0.0.1:9/x', runLabels: { le: 'x' } },
    { url: 'http://127.0.0.1:9/x', runLabels: { twirp_code: 'x' } },
    { url: 'http://127.0.0.1:9/x', runLabels: { 'bad-name': 'x' } },
  ];
  for (const o of bad) {
    assert.throws(
      () => prometheusRemoteWriteOutput({ ...o, logger: silent }),
      (e: unknown) => e instanceof RemoteWriteError && e.code === REMOTE_WRITE_ERROR_CODES.BAD_OPTIONS,
      JSON.stringify(o),
    );
  }
});

test('labels are sorted, empty values dropped, and a series without __name__ is refused', () => {
  assert.deepEqual(
    normaliseLabels([
      { name: 'stage', value: 's' },
      { name: '__name__', value: 'm' },
      { name: 'empty', value: '' },
      { name: 'le', value: '+Inf' },
    ]).map((l) => l.name),
    ['__name__', 'le', 'stage'],
  );
  assert.throws(() => normaliseLabels([{ name: 'a', value: 'b' }]), /without __name__/);
  assert.throws(() => normaliseLabels([{ name: '__name__', value: 'm' }, { name: '__name__', value: 'n' }]), /duplicate/);
});

test('the wire format: headers, snappy + WriteRequest, sorted labels, increasing timestamps, monotonic counters', async (t) => {
  const cap = await captureServer();
  t.after(() => cap.server.close());
  const warned: unknown[] = [];
  const out = prometheusRemoteWriteOutput({
    url: cap.url.replace('http://', 'http://bench:s%3Acret@'),
    intervalMs: 100,
    // run and profile are the run's own: an equal value passes silently, a different one is ignored with a warning
    runLabels: { host: 'h1', profile: 'smoke', run: 'other' },
    logger: { warn: (o: unknown) => warned.push(o), info() {} },
  });
  const s0 = stage(0, 'warmup');
  await out.start(runInfo('wire-1', [s0]));
  out.add({ type: 'stage-start', at: Date.now(), stage: s0 });
  out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(50) });
  await sleep(250);
  // A snapshot that goes backwards must not make a counter go down.
  out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(40) });
  await sleep(250);
  out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(80) });
  await sleep(250);
  // The stage's result has the final counts, newer than the last tick.
  const final = snapshot(90, 0);
  out.add({
    type: 'stage-end',
    at: Date.now(),
    stage: s0,
    result: { counts: final.counts, by_status: final.by_status, by_twirp_code: final.by_twirp_code, by_error_code: final.by_error_code } as never,
  });
  await sleep(50);
  await out.stop(summary('wire-1'));

  assert.ok(cap.requests.length >= 3, `requests: ${cap.requests.length}`);
  for (const r of cap.requests) {
    assert.equal(r.headers['content-encoding'], 'snappy');
    assert.equal(r.headers['content-type'], 'application/x-protobuf');
    assert.equal(r.headers['x-prometheus-remote-write-version'], '0.1.0');
    assert.equal(r.headers.authorization, `Basic ${Buffer.from('bench:s:cret').toString('base64')}`);
  }
  const byKey = new Map<string, { value: number; timestamp: number }[]>();
  for (const r of cap.requests) {
    for (const s of r.series) {
      const names = s.labels.map((l) => l.name);
      assert.deepEqual(names, [...names].sort(), 'labels sorted by name');
      const l = labelsOf(s);
      assert.equal(l.run, 'wire-1');
      assert.equal(l.profile, 'smoke');
      assert.equal(l.stage, 'warmup');
      assert.equal(l.host, 'h1');
      const key = JSON.stringify(s.labels);
      byKey.set(key, [...(byKey.get(key) ?? []), ...s.samples]);
    }
  }
  const names = new Set([...byKey.keys()].map((k) => (JSON.parse(k) as { name: string; value: string }[])[0]!.value));
  for (const n of [
    'bench_requests_sent_total',
    'bench_requests_total',
    'bench_responses_total',
    'bench_twirp_responses_total',
    'bench_errors_total',
    'bench_dropped_total',
    'bench_request_duration_seconds_bucket',
    'bench_request_duration_seconds_sum',
    'bench_request_duration_seconds_count',
    'bench_in_flight',
    'bench_target_rate',
    'bench_achieved_rate',
  ]) {
    assert.ok(names.has(n), `missing ${n}`);
  }
  for (const [key, samples] of byKey) {
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i]!.timestamp > samples[i - 1]!.timestamp, `timestamps increase in ${key}`);
    }
    const values = samples.map((s) => s.value).filter((v) => !Number.isNaN(v));
    if (key.includes('_total') || key.includes('_bucket') || key.includes('_count')) {
      for (let i = 1; i < values.length; i++) assert.ok(values[i]! >= values[i - 1]!, `monotonic ${key}: ${values}`);
    }
    // Every series ends with a staleness marker (a NaN) after the run's final values.
    assert.ok(Number.isNaN(samples[samples.length - 1]!.value), `ends stale: ${key}`);
  }
  const sent = [...byKey].find(([k]) => k.includes('bench_requests_sent_total'))![1].filter((s) => !Number.isNaN(s.value));
  assert.equal(sent[sent.length - 1]!.value, 90, 'the final value comes from the stage result');
  assert.ok(sent.some((s) => s.value === 83), 'the last tick was pushed');
  assert.ok(sent.some((s) => s.value === 53), 'the first snapshot was pushed');
  assert.ok(!sent.some((s) => s.value === 43), 'the backwards snapshot was not pushed as is');
  const buckets = [...byKey.keys()].filter((k) => k.includes('bench_request_duration_seconds_bucket'));
  assert.equal(buckets.length, BUCKETS_SECONDS.length + 1);
  assert.ok(buckets.some((k) => k.includes('"+Inf"')));
  assert.ok(buckets.some((k) => k.includes('"0.0005"')));
  assert.deepEqual(out.stats().batchesDropped, 0);
  assert.deepEqual(warned, [{ label: 'run', given: 'other', used: 'wire-1' }]);
});

test("a stage's first figures are pushed at once, so a stage shorter than the push interval spans two samples", async (t) => {
  const cap = await captureServer();
  t.after(() => cap.server.close());
  // A push interval far longer than the stage: without the first push the stage would have one sample, at its end.
  const out = prometheusRemoteWriteOutput({ url: cap.url, intervalMs: 60_000, logger: silent });
  const s0 = stage(0, 'short');
  await out.start(runInfo(`rw-first-${process.pid}`, [s0]));
  out.add({ type: 'stage-start', at: Date.now(), stage: s0 });
  out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(100) });
  for (let i = 0; i < 50 && cap.requests.length === 0; i++) await sleep(20);
  assert.equal(cap.requests.length, 1, 'the first tick was pushed without waiting for the interval');
  const target = (r: Capture['requests'][number]) => r.series.find((x) => labelsOf(x).__name__ === 'bench_target_rate');
  assert.deepEqual(target(cap.requests[0]!)?.samples.map((x) => x.value), [100]);
  await sleep(30);
  out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(200) });
  out.add({ type: 'stage-end', at: Date.now(), stage: s0, result: {} as never });
  await out.stop(summary(`rw-first-${process.pid}`));
  const last = target(cap.requests[cap.requests.length - 1]!)!;
  assert.equal(cap.requests.length, 2, 'one more push at the end of the stage; later ticks wait for the interval');
  const first = target(cap.requests[0]!)!;
  assert.ok(Number(last.samples[0]!.timestamp) - Number(first.samples[0]!.timestamp) >= 30, 'the two samples are apart in time');
});

test('a real Prometheus takes the push: counters per stage, latency quantiles, gauges end with their stage', async (t) => {
  const prom = await Prometheus.start();
  t.after(() => prom.destroy());
  const runId = `rw-${process.pid}-${Date.now()}`;
  const out = prometheusRemoteWriteOutput({ url: prom.writeUrl, intervalMs: 200, logger: silent });
  const s0 = stage(0, 'ramp');
  const s1 = stage(1, 'hold');
  await out.start(runInfo(runId, [s0, s1]));
  const events: BenchEvent[] = [];
  events.push({ type: 'stage-start', at: Date.now(), stage: s0 });
  for (const n of [100, 200, 300]) events.push({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(n) });
  for (const e of events) {
    out.add(e);
    await sleep(150);
  }
  out.add({ type: 'stage-end', at: Date.now(), stage: s0, result: {} as never });
  out.add({ type: 'stage-start', at: Date.now(), stage: s1 });
  for (const n of [1000, 2000]) {
    out.add({ type: 'tick', at: Date.now(), stage: s1, snapshot: snapshot(n, 7) });
    await sleep(300);
  }
  // Before stop: the running stage's gauge is there, the ended stage's is gone (staleness marker).
  const inFlight = await prom.waitForData(`bench_in_flight{run="${runId}"}`);
  assert.deepEqual(inFlight.map((s) => [s.metric.stage, s.value[1]]), [['hold', '7']]);
  await out.stop(summary(runId));
  assert.equal(out.stats().batchesDropped, 0, JSON.stringify(out.stats()));
  assert.ok(out.stats().batchesSent >= 3);

  const sent = await prom.query(`max_over_time(bench_requests_sent_total{run="${runId}"}[5m])`);
  const byStage = Object.fromEntries(sent.map((s) => [s.metric.stage, Number(s.value[1])]));
  assert.deepEqual(byStage, { ramp: 303, hold: 2007 });
  const codes = await prom.query(`sum by (twirp_code) (max_over_time(bench_twirp_responses_total{run="${runId}"}[5m]))`);
  assert.deepEqual(
    Object.fromEntries(codes.map((s) => [s.metric.twirp_code, Number(s.value[1])])),
    { ok: 270 + 1800, resource_exhausted: 30 + 200 },
  );
  const p50 = await prom.query(
    `histogram_quantile(0.5, sum by (le) (max_over_time(bench_request_duration_seconds_bucket{run="${runId}",stage="hold"}[5m])))`,
  );
  assert.equal(p50.length, 1);
  assert.ok(Number(p50[0]!.value[1]) > 0 && Number(p50[0]!.value[1]) <= 10, `p50 ${p50[0]!.value[1]}`);
  // After stop every series of the run is stale: nothing left for an instant query.
  assert.deepEqual(await prom.query(`bench_in_flight{run="${runId}"}`), []);
  assert.deepEqual(await prom.query(`bench_requests_sent_total{run="${runId}"}`), []);
});

test('distributed runs: per-worker counters carry a worker label and add up to the merged series in a real Prometheus', async (t) => {
  const prom = await Prometheus.start();
  t.after(() => prom.destroy());
  const runId = `rw-workers-${process.pid}-${Date.now()}`;
  const out = prometheusRemoteWriteOutput({ url: prom.writeUrl, intervalMs: 200, logger: silent });
  const s0 = stage(0, 'hold');
  await out.start(runInfo(runId, [s0]));
  out.add({ type: 'stage-start', at: Date.now(), stage: s0 });
  for (const n of [300, 600, 900]) {
    // worker 0 does two thirds, worker 1 one third: together the merged snapshot
    const merged = snapshot(n);
    const part = (share: number, index: number) => {
      const c = snapshot(Math.round(n * share), 0).counts;
      return { index, counts: c, inFlight: index + 1, achievedRate: 95 * share };
    };
    merged.workers = [part(2 / 3, 0), part(1 / 3, 1)];
    merged.counts = merged.workers.reduce((a, w) => ({
      sent: a.sent + w.counts.sent, completed: a.completed + w.counts.completed, ok: a.ok + w.counts.ok,
      errors: a.errors + w.counts.errors, timeouts: 0, dropped: a.dropped + w.counts.dropped,
    }), { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 });
    out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: merged });
    await sleep(300);
  }
  const live = await prom.waitForData(`bench_worker_in_flight{run="${runId}"}`);
  assert.deepEqual(live.map((s) => [s.metric.worker, s.value[1]]).sort(), [['0', '1'], ['1', '2']]);
  await out.stop(summary(runId));
  const perWorker = await prom.query(`sum by (worker) (max_over_time(bench_worker_requests_total{run="${runId}"}[5m]))`);
  const byWorker = Object.fromEntries(perWorker.map((s) => [s.metric.worker, Number(s.value[1])]));
  assert.deepEqual(byWorker, { 0: 600, 1: 300 });
  const merged = await prom.query(`sum(max_over_time(bench_requests_total{run="${runId}"}[5m]))`);
  assert.equal(Number(merged[0]!.value[1]), byWorker[0]! + byWorker[1]!);
  const okOnly = await prom.query(`max_over_time(bench_worker_requests_total{run="${runId}",worker="1",outcome="ok"}[5m])`);
  assert.equal(Number(okOnly[0]!.value[1]), 270);
});

test('Prometheus down: batches are dropped and counted, the run and stop go on', async () => {
  const port = await freePort(); // nothing listens here
  const out = prometheusRemoteWriteOutput({ url: `http://127.0.0.1:${port}/api/v1/write`, intervalMs: 100, timeoutMs: 500, logger: silent });
  const s0 = stage(0, 'only');
  await out.start(runInfo('down-1', [s0]));
  for (let i = 1; i <= 5; i++) {
    out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(i * 10) });
    await sleep(120);
  }
  await out.stop(summary('down-1'));
  const st = out.stats();
  assert.equal(st.batchesSent, 0);
  assert.ok(st.batchesDropped >= 3, JSON.stringify(st));
  assert.ok(st.samplesDropped > st.batchesDropped);
  assert.equal(st.lastError, 'ECONNREFUSED');
});

test('a Prometheus that never answers: one request at a time, bounded queue, drops counted, stop bounded', async (t) => {
  let open = 0;
  let maxOpen = 0;
  let seen = 0;
  const hung = new Set<import('node:http').ServerResponse>();
  const server = createServer((req, res) => {
    seen++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    hung.add(res);
    req.resume();
    res.on('close', () => {
      open--;
      hung.delete(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const r of hung) r.destroy();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/write`;
  const out = prometheusRemoteWriteOutput({ url, intervalMs: 100, timeoutMs: 400, maxQueuedBatches: 2, logger: silent });
  const s0 = stage(0, 'only');
  await out.start(runInfo('slow-1', [s0]));
  for (let i = 1; i <= 15; i++) {
    out.add({ type: 'tick', at: Date.now(), stage: s0, snapshot: snapshot(i * 10) });
    await sleep(100);
  }
  await out.stop(summary('slow-1'));
  const st = out.stats();
  // One request at a time: the server may see the aborted request's close a moment after the next one
  // arrives, so it can count two open at the instant of hand-over, never more.
  assert.ok(maxOpen <= 2, `the sender overlaps requests: ${maxOpen} open at once`);
  assert.equal(st.batchesSent, 0);
  // Every batch built was either attempted (and timed out) or dropped from the full queue; none were sent.
  assert.ok(st.batchesDropped > seen, `dropped ${st.batchesDropped}, attempted ${seen}`);
  assert.ok(seen >= 2);
});
