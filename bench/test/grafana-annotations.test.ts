// The `grafana` output against a capture server standing in for Grafana's HTTP API (Grafana itself is not
// installable here): the exact requests it makes, its auth, and what happens when Grafana refuses or is down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import {
  grafanaAnnotationsOutput,
  GrafanaAnnotationsError,
  type AnnotationRequest,
} from '../src/outputs/grafana-annotations';
import type { RunInfo, StageInfo, StageResult, Summary } from '../src/types';
import { freePort } from '../../service/test/support/mariadb';

const silent = { warn() {}, info() {} };

interface Captured {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: AnnotationRequest;
}

async function fakeGrafana(status = 200, path = '') {
  const requests: Captured[] = [];
  let nextId = 41;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: JSON.parse(raw) as AnnotationRequest });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? JSON.stringify({ message: 'Annotation added', id: ++nextId }) : JSON.stringify({ message: 'Unauthorized' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, requests, base: `http://127.0.0.1:${port}${path}`, port };
}

const stages: StageInfo[] = [
  { index: 0, name: 'warm up', model: 'closed', durationMs: 1000 },
  { index: 1, name: 'hold', model: 'open', durationMs: 2000 },
];
const run: RunInfo = { runId: 'r-123', profile: 'load', target: 'http://127.0.0.1:8080', startedAt: 1_700_000_000_000, stages };

function result(name: string, ok: number, errors: number): StageResult {
  return {
    name,
    model: 'open',
    started_at: '',
    ended_at: '',
    duration_ms: 2000,
    counts: { sent: ok + errors, completed: ok + errors, ok, errors, timeouts: 0, dropped: 0 },
    rate: { target: 100, achieved: 99.5 },
    latency_ms: { p50: 1.25, p90: 2, p99: 12.5, p999: 20, max: 30, mean: 1.5 },
    by_status: { '200': ok, '503': errors },
    by_twirp_code: { ok, unavailable: errors },
    by_error_code: {},
    bytes: { sent: 0, received: 0 },
  };
}

const summary = (passed: boolean): Summary => ({
  run_id: 'r-123',
  profile: 'load',
  target: 'http://127.0.0.1:8080',
  started_at: new Date(run.startedAt).toISOString(),
  ended_at: new Date(run.startedAt + 3500).toISOString(),
  passed,
  aborted: false,
  thresholds: passed ? [] : [{ expr: 'p99 < 10ms', stage: 'hold', value: 12.5, passed: false }],
  stages: [],
});

test('one region per stage and one for the run: the exact requests', async (t) => {
  const g = await fakeGrafana(200, '/grafana');
  t.after(() => g.server.close());
  const out = grafanaAnnotationsOutput({ url: g.base, token: 'glsa_test', logger: silent });
  await out.start(run);
  const t0 = run.startedAt;
  out.add({ type: 'stage-start', at: t0 + 10, stage: stages[0]! });
  out.add({ type: 'tick', at: t0 + 500, stage: stages[0]!, snapshot: {} as never });
  out.add({ type: 'stage-end', at: t0 + 1010, stage: stages[0]!, result: result('warm up', 90, 0) });
  out.add({ type: 'stage-start', at: t0 + 1010, stage: stages[1]! });
  out.add({ type: 'stage-end', at: t0 + 3010, stage: stages[1]!, result: result('hold', 190, 10) });
  await out.stop(summary(false));

  assert.equal(g.requests.length, 3);
  for (const r of g.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, '/grafana/api/annotations');
    assert.equal(r.headers.authorization, 'Bearer glsa_test');
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.deepEqual(g.requests[0]!.body, {
    time: t0 + 10,
    timeEnd: t0 + 1010,
    tags: ['bench', 'run:r-123', 'profile:load', 'stage:warm_up'],
    text: 'load r-123: stage warm up (closed): 90 ok, 0 errors, 0 timeouts, 0 dropped; target 100/s, achieved 99.5/s; p50 1.25 ms, p99 12.50 ms',
  });
  assert.deepEqual(g.requests[1]!.body, {
    time: t0 + 1010,
    timeEnd: t0 + 3010,
    tags: ['bench', 'run:r-123', 'profile:load', 'stage:hold'],
    text: 'load r-123: stage hold (open): 190 ok, 10 errors, 0 timeouts, 0 dropped; target 100/s, achieved 99.5/s; p50 1.25 ms, p99 12.50 ms; unavailable=10',
  });
  assert.deepEqual(g.requests[2]!.body, {
    time: t0,
    timeEnd: t0 + 3500,
    tags: ['bench', 'run:r-123', 'profile:load', 'stage:all'],
    text: 'load r-123: run FAILED (hold: p99 < 10ms); target http://127.0.0.1:8080',
  });
  assert.deepEqual(out.stats(), { posted: 3, failed: 0, lastError: null, ids: [42, 43, 44] });
});

test('credentials in the URL become Basic auth; a stage that never ended is closed at the run end', async (t) => {
  const g = await fakeGrafana();
  t.after(() => g.server.close());
  const out = grafanaAnnotationsOutput({ url: `http://admin:s%40cret@127.0.0.1:${g.port}/`, logger: silent });
  await out.start(run);
  out.add({ type: 'stage-start', at: run.startedAt + 5, stage: stages[0]! });
  await out.stop({ ...summary(true), aborted: true });
  assert.equal(g.requests.length, 2);
  assert.equal(g.requests[0]!.path, '/api/annotations');
  assert.equal(g.requests[0]!.headers.authorization, `Basic ${Buffer.from('admin:s@cret').toString('base64')}`);
  assert.deepEqual(g.requests[0]!.body.tags, ['bench', 'run:r-123', 'profile:load', 'stage:warm_up']);
  assert.equal(g.requests[0]!.body.timeEnd, run.startedAt + 3500);
  assert.match(g.requests[0]!.body.text, /ended without a result/);
  assert.match(g.requests[1]!.body.text, /run passed, aborted/);
});

test('Grafana refusing or down: counted, logged once per cause, never thrown', async (t) => {
  const g = await fakeGrafana(401);
  t.after(() => g.server.close());
  const warnings: unknown[] = [];
  const out = grafanaAnnotationsOutput({ url: g.base, token: 'wrong', logger: { warn: (o: unknown) => warnings.push(o), info() {} } });
  await out.start(run);
  out.add({ type: 'stage-start', at: run.startedAt, stage: stages[0]! });
  out.add({ type: 'stage-end', at: run.startedAt + 1, stage: stages[0]!, result: result('warm up', 1, 0) });
  await out.stop(summary(true));
  assert.equal(g.requests.length, 2);
  const st = out.stats();
  assert.equal(st.posted, 0);
  assert.equal(st.failed, 2);
  assert.match(st.lastError ?? '', /^HTTP 401: .*Unauthorized/);
  assert.equal(warnings.length, 2, 'one warning for the cause, one for the final tally');

  const port = await freePort();
  const down = grafanaAnnotationsOutput({ url: `http://127.0.0.1:${port}`, timeoutMs: 500, logger: silent });
  await down.start(run);
  down.add({ type: 'stage-start', at: run.startedAt, stage: stages[0]! });
  await down.stop(summary(true));
  assert.equal(down.stats().failed, 2);
  assert.equal(down.stats().lastError, 'ECONNREFUSED');
});

test('bad options fail at construction with a stable code', () => {
  for (const url of ['grafana', 'file:///etc/passwd']) {
    assert.throws(
      () => grafanaAnnotationsOutput({ url, logger: silent }),
      (e: unknown) => e instanceof GrafanaAnnotationsError && e.code === 'BENCH_GRAFANA_BAD_OPTIONS',
    );
  }
  assert.throws(() => grafanaAnnotationsOutput({ url: 'http://127.0.0.1:3000', timeoutMs: -5, logger: silent }), GrafanaAnnotationsError);
});
