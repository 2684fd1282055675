// GET /metrics in OpenMetrics for scrapers that ask for it: the request-duration histogram carries exemplars (the
// trace id of a request in each bucket), and a real Prometheus with --enable-feature=exemplar-storage scrapes them
// without error and returns them from its exemplar API. The text format 0.0.4 stays as it was, before and after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Prometheus } from '../../bench/test/support/prometheus';
import { wantsOpenMetrics } from '../src/telemetry/openmetrics';
import { post, startApp } from './support/service';

let app: FastifyInstance;
let base: string;
let prom: Prometheus | undefined;
before(async () => {
  ({ app, base } = await startApp({}));
});
after(async () => {
  await prom?.destroy();
  await app?.close();
});

const OM = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

function traceparent(sampled: boolean): { header: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { header: `00-${traceId}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}`, traceId };
}

test('Accept decides the format', () => {
  assert.equal(wantsOpenMetrics(OM), true);
  assert.equal(wantsOpenMetrics('text/plain;version=0.0.4'), false);
  assert.equal(wantsOpenMetrics('*/*'), false);
  assert.equal(wantsOpenMetrics(undefined), false);
  assert.equal(wantsOpenMetrics('application/openmetrics-text;q=0'), false);
});

test('exemplars in OpenMetrics; the text format is unchanged by an OpenMetrics render', async () => {
  const tp = traceparent(false);
  const ok = await post(base, JSON.stringify({ property: 'news', section: 1, id: 1 }), 'application/json', undefined, { traceparent: tp.header });
  assert.equal(ok.status, 200);
  const before = await (await fetch(`${base}/metrics`)).text();
  const res = await fetch(`${base}/metrics`, { headers: { accept: OM } });
  assert.match(res.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
  const om = await res.text();
  assert.ok(om.endsWith('# EOF\n'));
  assert.match(om, /^# TYPE pageview_pushes counter$/m);
  assert.match(om, /^pageview_pushes_total\{result="accepted",twirp_code="ok"\} 1$/m);
  const bucket = om.split('\n').find((l) => l.startsWith('http_server_request_duration_seconds_bucket') && l.includes(`trace_id="${tp.traceId}"`));
  assert.ok(bucket, 'an exemplar with the request\'s trace id');
  assert.match(bucket, /^http_server_request_duration_seconds_bucket\{[^}]*twirp_code="ok"[^}]*\} 1 # \{trace_id="[0-9a-f]{32}"\} [0-9.e-]+ \d+\.\d{3}$/);
  const after = await (await fetch(`${base}/metrics`)).text();
  assert.doesNotMatch(after, / # \{/, 'no exemplars in the text format');
  assert.match(after, /^pageview_pushes_total\{result="accepted",twirp_code="ok"\} 1$/m, 'counter names intact after an OpenMetrics render');
  assert.equal(after.split('\n').filter((l) => !l.startsWith('#')).length, before.split('\n').filter((l) => !l.startsWith('#')).length);
});

test('a real Prometheus with exemplar storage scrapes them and returns them by trace id', async () => {
  const port = new URL(base).port;
  prom = await Prometheus.start({
    scrapeJobs: [{ job: 'pageview-service', targets: [`127.0.0.1:${port}`], params: { window: ['prometheus'] } }],
    enableFeatures: ['exemplar-storage'],
  });
  const sent = new Set<string>();
  const t0 = Date.now() / 1000;
  let found: string[] = [];
  for (let round = 0; round < 40 && found.length === 0; round++) {
    const tp = traceparent(round % 2 === 0);
    sent.add(tp.traceId);
    await post(base, JSON.stringify({ property: 'news', section: 1, id: round + 2 }), 'application/json', undefined, { traceparent: tp.header });
    await new Promise((r) => setTimeout(r, 500));
    const res = await prom.queryExemplars('http_server_request_duration_seconds_bucket{job="pageview-service"}', t0 - 60, Date.now() / 1000 + 60);
    found = res.flatMap((s) => s.exemplars.map((e) => e.labels.trace_id!)).filter((id) => sent.has(id));
  }
  assert.ok(found.length > 0, 'Prometheus stored an exemplar of a request this test sent');
  const [target] = await prom.targets();
  assert.equal(target?.health, 'up');
  assert.equal(target?.lastError, '');
  const up = await prom.query('pageview_pushes_total{job="pageview-service",result="accepted"}');
  assert.ok(Number(up[0]?.value[1]) >= 1);
});
