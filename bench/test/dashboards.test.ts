// Every Grafana dashboard under grafana/dashboards, checked the way Grafana would trip over it (Grafana itself
// is not installable here): unique uids, datasources the provisioning defines, variables that exist, annotation
// queries that can match what the `grafana` output posts, panels that fit the grid, and every PromQL expression
// accepted by a real Prometheus' parser. (That the expressions return data is bench/test/stack.test.ts.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  Prometheus,
  DASHBOARDS_DIR,
  allPanels,
  dashboardPromQueries,
  expandGrafanaVars,
  referencedVars,
  GRAFANA_GLOBAL_VARS,
} from './support/prometheus';
import { runTags } from '../src/outputs/grafana-annotations';
import { randomBytes } from 'node:crypto';
import { buildApp } from '../../service/src/app';
import { loadConfig } from '../../service/src/config';

const GRAFANA_DIR = join(__dirname, '..', '..', 'grafana');
const BUILTIN_GRAFANA_DS = '-- Grafana --';

interface DsRef {
  type?: string;
  uid?: string;
}
interface Target {
  refId?: string;
  datasource?: DsRef | null;
  expr?: string;
  query?: string;
  queryType?: string;
  timeField?: string;
  metrics?: { id: string; type: string; field?: string }[];
  bucketAggs?: { id: string; type: string; field?: string }[];
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: DsRef | null;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  datasource?: DsRef | null;
  query?: unknown;
  definition?: string;
}
interface Annotation {
  name: string;
  builtIn?: number;
  datasource?: DsRef;
  enable?: boolean;
  expr?: string;
  target?: { type?: string; tags?: string[]; matchAny?: boolean; expr?: string };
}
interface Dashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  panels?: Panel[];
  templating?: { list?: Variable[] };
  annotations?: { list?: Annotation[] };
}

interface ProvisionedDs {
  name: string;
  uid: string;
  type: string;
  url: string;
  jsonData?: { timeField?: string; index?: string };
}

const datasources = (
  parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'datasources.yml'), 'utf8')) as {
    apiVersion: number;
    datasources: ProvisionedDs[];
  }
).datasources;
const dsByUid = new Map(datasources.map((d) => [d.uid, d]));
const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')).sort();
const dashboards: [string, Dashboard][] = files.map((f) => [f, JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as Dashboard]);

/** Resolves a datasource reference to its provisioned definition, or fails with where it was found. */
function checkDs(ref: DsRef | null | undefined, where: string, fallback?: DsRef | null): ProvisionedDs | 'grafana' {
  const ds = ref ?? fallback;
  assert.ok(ds && typeof ds === 'object', `${where}: no datasource (Grafana would fall back to the default one)`);
  if (ds.uid === BUILTIN_GRAFANA_DS) {
    assert.equal(ds.type, 'grafana', `${where}: the built-in Grafana datasource has type "grafana"`);
    return 'grafana';
  }
  const def = dsByUid.get(ds.uid ?? '');
  assert.ok(def, `${where}: datasource uid ${JSON.stringify(ds.uid)} is not provisioned (have ${[...dsByUid.keys()].join(', ')})`);
  assert.equal(ds.type, def.type, `${where}: datasource ${ds.uid} is a ${def.type}, not a ${ds.type}`);
  return def;
}

function varsOf(d: Dashboard): Set<string> {
  return new Set([...(d.templating?.list ?? []).map((v) => v.name), ...GRAFANA_GLOBAL_VARS]);
}

test('the provisioning files: datasources with unique uids and names, a provider whose path the compose stack mounts', () => {
  assert.ok(datasources.length >= 3);
  assert.equal(new Set(datasources.map((d) => d.uid)).size, datasources.length, 'unique uids');
  assert.equal(new Set(datasources.map((d) => d.name)).size, datasources.length, 'unique names');
  assert.equal(datasources.filter((d) => (d as { isDefault?: boolean }).isDefault).length, 1, 'exactly one default');
  assert.ok(datasources.some((d) => d.type === 'prometheus'));
  const es = datasources.filter((d) => d.type === 'elasticsearch');
  assert.deepEqual(es.map((d) => d.jsonData?.index).sort(), ['logs-apm.error-*', 'traces-apm*']);
  for (const d of es) assert.equal(d.jsonData?.timeField, '@timestamp');
  const provider = parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning', 'dashboards', 'dashboards.yml'), 'utf8')) as {
    providers: { type: string; options: { path: string } }[];
  };
  assert.equal(provider.providers.length, 1);
  const compose = readFileSync(join(__dirname, '..', '..', 'compose', 'docker-compose.yml'), 'utf8');
  assert.ok(
    compose.includes(`../grafana/dashboards:${provider.providers[0]!.options.path}`),
    'compose mounts grafana/dashboards where the provider looks',
  );
  for (const d of datasources) {
    const host = new URL(d.url).hostname;
    assert.match(compose, new RegExp(`^  ${host}:`, 'm'), `datasource ${d.uid} points at compose service ${host}`);
  }
});

test('dashboards: unique uids and titles, a Stress run dashboard', () => {
  assert.ok(dashboards.length >= 1);
  const uids = dashboards.map(([, d]) => d.uid);
  for (const [f, d] of dashboards) {
    assert.ok(typeof d.uid === 'string' && /^[a-zA-Z0-9_-]{1,40}$/.test(d.uid), `${f}: uid ${d.uid}`);
    assert.ok(d.title, `${f}: title`);
    assert.ok((d.schemaVersion ?? 0) >= 36, `${f}: schemaVersion`);
  }
  assert.equal(new Set(uids).size, uids.length, 'dashboard uids are unique');
  assert.equal(new Set(dashboards.map(([, d]) => d.title)).size, dashboards.length, 'titles are unique');
  assert.ok(dashboards.some(([, d]) => d.title === 'Stress run'));
});

test('panels: unique ids, on the 24-column grid without overlap, datasources provisioned, targets complete', () => {
  for (const [f, d] of dashboards) {
    const panels = allPanels(d as never) as Panel[];
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${f}: panel ids unique`);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const where = `${f} / ${p.title}`;
      assert.ok(p.gridPos, `${where}: gridPos`);
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `${where}: fits 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const k = `${x},${y}`;
          assert.ok(!cells.has(k), `${where} overlaps ${cells.get(k)}`);
          cells.set(k, p.title ?? '');
        }
      }
      if (p.type === 'row' || p.type === 'text') continue;
      assert.ok((p.targets ?? []).length > 0, `${where}: has queries`);
      const refIds = (p.targets ?? []).map((t) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${where}: refIds unique`);
      for (const t of p.targets ?? []) {
        const w = `${where} [${t.refId}]`;
        const ds = checkDs(t.datasource, w, p.datasource);
        assert.ok(ds !== 'grafana', `${w}: a panel query on the built-in datasource`);
        if (ds.type === 'prometheus') {
          assert.ok(typeof t.expr === 'string' && t.expr.trim().length > 0, `${w}: expr`);
        } else if (ds.type === 'elasticsearch') {
          assert.equal(typeof t.query, 'string', `${w}: Lucene query`);
          assert.ok((t.metrics ?? []).length > 0, `${w}: metrics`);
          for (const b of t.bucketAggs ?? []) {
            assert.ok(b.field, `${w}: bucket aggregation ${b.id} has a field`);
            if (b.type === 'date_histogram') assert.equal(b.field, ds.jsonData?.timeField, `${w}: date histogram on the time field`);
          }
          if (t.queryType !== 'logs') {
            assert.ok((t.bucketAggs ?? []).some((b) => b.type === 'date_histogram'), `${w}: a time series needs a date histogram`);
          }
        }
      }
    }
  }
});

test('variables: every reference resolves; query variables use a provisioned datasource', () => {
  for (const [f, d] of dashboards) {
    const known = varsOf(d);
    for (const v of d.templating?.list ?? []) {
      assert.match(v.name, /^\w+$/, `${f}: variable name`);
      if (v.type === 'query') {
        checkDs(v.datasource, `${f} variable ${v.name}`);
        const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
        assert.ok(q && q.length > 0, `${f} variable ${v.name}: query`);
      }
    }
    const texts: [string, string][] = [];
    for (const p of allPanels(d as never) as Panel[]) {
      texts.push([`${p.title} (title)`, p.title ?? '']);
      for (const t of p.targets ?? []) texts.push([`${p.title} [${t.refId}]`, `${t.expr ?? ''} ${t.query ?? ''}`]);
    }
    for (const a of d.annotations?.list ?? []) texts.push([`annotation ${a.name}`, JSON.stringify(a.target ?? {}) + (a.expr ?? '')]);
    for (const [where, text] of texts) {
      for (const name of referencedVars(text)) assert.ok(known.has(name), `${f} / ${where}: unknown variable $${name}`);
    }
  }
});

test('annotations: the stage query matches the tags the grafana output posts', () => {
  for (const [f, d] of dashboards) {
    const list = d.annotations?.list ?? [];
    const seen = new Set<string>();
    for (const a of list) {
      assert.ok(!seen.has(a.name), `${f}: annotation names unique`);
      seen.add(a.name);
      const ds = checkDs(a.datasource, `${f} annotation ${a.name}`);
      if (ds === 'grafana') {
        if (a.builtIn) continue;
        assert.equal(a.target?.type, 'tags', `${f} annotation ${a.name}: a tags query`);
        assert.ok((a.target?.tags ?? []).length > 0, `${f} annotation ${a.name}: has tags`);
      } else if (ds.type === 'prometheus') {
        assert.ok(a.expr ?? a.target?.expr, `${f} annotation ${a.name}: expr`);
      }
    }
  }
  const [, stress] = dashboards.find(([, d]) => d.title === 'Stress run')!;
  const stages = (stress.annotations?.list ?? []).find((a) => !a.builtIn && a.target?.type === 'tags');
  assert.ok(stages, 'the Stress run dashboard shows bench stages');
  // Grafana matches a tags query with matchAny=false when the annotation carries every tag of the query.
  const run = { runId: 'r-42', profile: 'smoke', target: 'x', startedAt: 0, stages: [] };
  const posted = new Set(runTags(run, 'hold'));
  const wanted = (stages.target!.tags ?? []).map((t) => expandGrafanaVars(t, { run: run.runId }));
  assert.equal(stages.target!.matchAny ?? false, false);
  for (const tag of wanted) assert.ok(posted.has(tag), `posted annotations carry ${tag} (they carry ${[...posted].join(', ')})`);
  const other = new Set(runTags({ ...run, runId: 'r-43' }, 'hold'));
  assert.ok(!wanted.every((tag) => other.has(tag)), "another run's stages do not show");
});

test('the Stress run dashboard covers what the issue asks for', () => {
  const [, d] = dashboards.find(([, x]) => x.title === 'Stress run')!;
  const exprs = dashboardPromQueries('stress-run.json', d as never).map((q) => q.expr).join('\n');
  const needed: [string, RegExp][] = [
    ['client requests/s', /rate\(bench_requests_sent_total/],
    ['server requests/s', /rate\(http_server_request_duration_seconds_count/],
    ['client errors by Twirp code', /sum by \(twirp_code\) \(rate\(bench_twirp_responses_total/],
    ['server errors by Twirp code', /sum by \(twirp_code\) \(rate\(http_server_request_duration_seconds_count/],
    ['client latency', /histogram_quantile\(0\.99, sum by \(le\) \(rate\(bench_request_duration_seconds_bucket/],
    ['server latency', /histogram_quantile\(0\.99, sum by \(le\) \(rate\(http_server_request_duration_seconds_bucket/],
    ['pool used/idle', /db_client_connection_count/],
    ['pending acquires', /db_client_connection_pending_requests/],
    ['acquire wait', /db_client_connection_wait_time_seconds_bucket/],
    ['batch size', /pageview_batch_size_bucket/],
    ['flush time', /pageview_flush_duration_seconds_bucket/],
    ['MySQL threads connected', /mysql_global_status_threads_connected/],
    ['max_connections', /mysql_global_variables_max_connections/],
    ['event loop lag', /nodejs_eventloop_lag_seconds/],
    ['target rate', /bench_target_rate/],
    ['dropped', /bench_dropped_total/],
    ['in flight', /bench_in_flight/],
    ['achieved rate per worker', /sum by \(worker\) \(rate\(bench_worker_requests_total/],
  ];
  for (const [what, re] of needed) assert.match(exprs, re, what);
  const es = (allPanels(d as never) as Panel[]).filter((p) => p.datasource?.type === 'elasticsearch');
  assert.ok(es.some((p) => p.datasource?.uid === 'apm-errors'), 'APM errors from Elasticsearch');
});

let prom: Prometheus;
before(async () => {
  prom = await Prometheus.start();
});
after(async () => {
  await prom?.destroy();
});

test("every PromQL expression (and variable query) passes a real Prometheus' parser", async () => {
  for (const [f, d] of dashboards) {
    const vars: Record<string, string> = {
      run: 'r-1',
      __rate_interval: '20s',
      __interval: '5s',
      __range: '3600s',
      __range_s: '3600',
      __range_ms: '3600000',
    };
    for (const q of dashboardPromQueries(f, d as never)) {
      const expr = expandGrafanaVars(q.expr, vars);
      assert.doesNotMatch(expr, /\$|\[\[/, `${f} / ${q.panel} [${q.refId}]: unexpanded variable`);
      await prom.query(expr).catch((err: Error) => assert.fail(`${f} / ${q.panel} [${q.refId}]: ${err.message}`));
    }
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : ((v.query as { query?: string }).query ?? '');
      // label_values(SELECTOR, LABEL) is Grafana's, not PromQL: check the selector and label as a PromQL grouping.
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q.trim());
      assert.ok(m, `${f} variable ${v.name}: label_values(selector, label)`);
      await prom.query(`count by (${m[2]}) (${expandGrafanaVars(m[1]!, vars)})`);
    }
  }
});

test("the latency panel's server lines show exemplars: a real Prometheus (exemplar storage) returns the trace ids of the service's requests for their expressions", async () => {
  const [, d] = dashboards.find(([, x]) => x.title === 'Stress run')!;
  const panel = (allPanels(d as never) as (Panel & { targets?: (Target & { exemplar?: boolean })[] })[])
    .find((p) => p.title?.startsWith('Latency p50 / p99'));
  assert.ok(panel, 'the latency panel');
  const withExemplars = ((panel.targets ?? []) as (Target & { exemplar?: boolean })[]).filter((t) => t.exemplar === true);
  assert.ok(withExemplars.length > 0 && withExemplars.every((t) => /http_server_request_duration_seconds_bucket/.test(t.expr ?? '')));
  const ds = datasources.find((x) => x.uid === 'prometheus') as ProvisionedDs & { jsonData?: { exemplarTraceIdDestinations?: { name: string; url: string }[] } };
  const dest = ds.jsonData?.exemplarTraceIdDestinations?.find((x) => x.name === 'trace_id');
  assert.ok(dest && dest.url.includes('$${__value.raw}'), 'exemplars link to their trace ($$ is a literal $ in provisioning files)');

  const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent' }), defaultMetrics: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const ex = await Prometheus.start({
    scrapeJobs: [{ job: 'pageview-service', targets: [`127.0.0.1:${port}`], params: { window: ['prometheus'] } }],
    enableFeatures: ['exemplar-storage'],
  });
  try {
    const ids = new Set<string>();
    const t0 = Date.now() / 1000 - 60;
    let seen = 0;
    for (let i = 0; i < 40 && seen === 0; i++) {
      const traceId = randomBytes(16).toString('hex');
      ids.add(traceId);
      const res = await fetch(`http://127.0.0.1:${port}/twirp/stats.StatsService/Push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
        body: JSON.stringify({ property: 'news', section: 1, id: i + 1 }),
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 500));
      for (const t of withExemplars) {
        const expr = expandGrafanaVars(t.expr!, { __rate_interval: '20s', run: 'r-1' });
        const got = await ex.queryExemplars(expr, t0, Date.now() / 1000 + 60);
        seen += got.flatMap((s) => s.exemplars).filter((e) => ids.has(e.labels.trace_id ?? '')).length;
      }
    }
    assert.ok(seen > 0, 'the exemplar query of the panel returns a trace id the test sent');
  } finally {
    await ex.destroy();
    await app.close();
  }
});
