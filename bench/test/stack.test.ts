// The observability loop for real, minus Docker: a throwaway MariaDB, the real service on it, Debian's
// mysqld-exporter, a real Prometheus scraping both and receiving the bench's remote write, and the real bench CLI
// running a short smoke profile with --prometheus-rw and --grafana (Grafana itself cannot be installed here; a
// capture server takes its annotation API). Then every PromQL expression of every dashboard is evaluated over the
// run through Prometheus' HTTP API and must return data, and the client's counts must meet the server's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariaDb, freePort } from '../../service/test/support/mariadb';
import {
  Prometheus,
  DASHBOARDS_DIR,
  dashboardPromQueries,
  expandGrafanaVars,
  type DashboardPromQuery,
} from './support/prometheus';
import type { Summary } from '../src/types';
import { loadProfile } from '../src/profiles';

const ROOT = join(__dirname, '..', '..');
const EXPORTER_BINS = ['/usr/bin/prometheus-mysqld-exporter', '/usr/sbin/prometheus-mysqld-exporter', '/usr/local/bin/mysqld_exporter'];
/** Series that exist only once something failed (their counters carry labels, so nothing is exported before). */
const FAILURE_ONLY = new Set(['db_client_connection_errors_total', 'pageview_flush_failures_total', 'bench_errors_total']);
/** The smoke profile's two stages at this length each, so the bench pushes (every 5 s) more than once per stage. */
const STAGE_SECONDS = 6;

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function waitHttp(url: string, child: ChildProcess, what: string, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log().slice(-2000)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.text();
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready at ${url}: ${log().slice(-2000)}`);
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; log: () => string } {
  let out = '';
  const child = track(spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => out };
}

let db: MariaDb | undefined;
let service: ChildProcess | undefined;
let exporter: ChildProcess | undefined;
let prom: Prometheus | undefined;
let grafana: Server | undefined;
let outDir: string | undefined;
const annotations: { path: string; auth: string | undefined; body: { time: number; timeEnd: number; tags: string[]; text: string } }[] = [];
let summary: Summary;
let exitCode: number | null = null;
let runStartSec = 0;
let runEndSec = 0;
let exporterBin: string | undefined;

before(async () => {
  exporterBin = EXPORTER_BINS.find((p) => existsSync(p));
  db = await MariaDb.start();
  const svcPort = await freePort();
  const svc = spawnLogged(process.execPath, ['--import', 'tsx', 'service/src/main.ts'], {
    ...process.env,
    PORT: String(svcPort),
    HOST: '127.0.0.1',
    MYSQL_URL: db.url,
    // The service accepts only the properties it is told about; the smoke profile's are these.
    ALLOWED_PROPERTIES: loadProfile('smoke').profile.request.properties.join(','),
    LOG_LEVEL: 'warn',
    ELASTIC_APM_SERVER_URL: '',
  });
  service = svc.child;
  await waitHttp(`http://127.0.0.1:${svcPort}/readyz`, svc.child, 'service', svc.log);

  const jobs = [{ job: 'pageview-service', targets: [`127.0.0.1:${svcPort}`], labels: { service: 'pageview' } }];
  if (exporterBin) {
    const expPort = await freePort();
    // Debian ships mysqld_exporter 0.14, which still reads DATA_SOURCE_NAME (0.15+ in compose takes flags).
    const exp = spawnLogged(exporterBin, [`--web.listen-address=127.0.0.1:${expPort}`], {
      ...process.env,
      DATA_SOURCE_NAME: `root@(127.0.0.1:${db.port})/`,
    });
    exporter = exp.child;
    await waitHttp(`http://127.0.0.1:${expPort}/metrics`, exp.child, 'mysqld-exporter', exp.log);
    jobs.push({ job: 'mysqld-exporter', targets: [`127.0.0.1:${expPort}`], labels: { service: 'mysql' } });
  }
  prom = await Prometheus.start({ scrapeJobs: jobs, scrapeInterval: '1s' });
  await prom.waitForData('up{job="pageview-service"} == 1');

  grafana = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      annotations.push({ path: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(raw) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Annotation added', id: annotations.length }));
    });
  });
  await new Promise<void>((r) => grafana!.listen(0, '127.0.0.1', r));
  const grafanaPort = (grafana.address() as { port: number }).port;

  outDir = await mkdtemp(join(tmpdir(), 'pvlab-stack-'));
  runStartSec = Date.now() / 1000;
  // A share of invalid requests gives both sides a Twirp error code (invalid_argument) to count.
  exitCode = await new Promise<number | null>((resolve) => {
    const cli = execFile(
      process.execPath,
      [
        '--import', 'tsx', 'bench/src/cli.ts',
        '--profile', 'smoke',
        '--target', `http://127.0.0.1:${svcPort}`,
        '--duration', `${STAGE_SECONDS}s`,
        '--invalid-share', '0.05',
        '--prometheus-rw', prom!.writeUrl,
        '--grafana', `http://127.0.0.1:${grafanaPort}`,
        '--out', outDir!,
        '--quiet',
      ],
      { cwd: ROOT, env: { ...process.env, GRAFANA_TOKEN: 'stack-token' }, timeout: 180_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err && typeof err.code !== 'number') process.stderr.write(`bench CLI failed: ${err.message}\n${stderr.slice(-3000)}\n`);
        resolve(err ? (typeof err.code === 'number' ? err.code : null) : 0);
      },
    );
    track(cli);
  });
  runEndSec = Date.now() / 1000;
  const file = readdirSync(outDir).includes('summary.json')
    ? join(outDir, 'summary.json')
    : join(outDir, readdirSync(outDir).find((d) => existsSync(join(outDir!, d, 'summary.json'))) ?? '', 'summary.json');
  summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  // Let Prometheus take a scrape after the last request.
  await new Promise((r) => setTimeout(r, 2500));
});

after(async () => {
  await stopChild(service);
  await stopChild(exporter);
  await prom?.destroy();
  grafana?.close();
  await db?.destroy();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

test('the bench ran the smoke profile against the real service (exit 0, or 99 for the deliberate errors)', () => {
  assert.ok(exitCode === 0 || exitCode === 99, `exit code ${exitCode}`);
  assert.deepEqual(summary.stages.map((s) => s.name), ['closed-4', 'open-50']);
  assert.ok(summary.stages.every((s) => s.counts.ok > 0));
});

test("the client's answers by Twirp code meet the server's, through Prometheus", async () => {
  const client = await prom!.query(
    `sum by (twirp_code) (max_over_time(bench_twirp_responses_total{run="${summary.run_id}"}[10m]))`,
  );
  const server = await prom!.query(
    'sum by (twirp_code) (max_over_time(http_server_request_duration_seconds_count{job="pageview-service",http_route="/twirp/stats.StatsService/Push"}[10m]))',
  );
  const asMap = (v: typeof client) => Object.fromEntries(v.map((s) => [s.metric.twirp_code, Number(s.value[1])]));
  const c = asMap(client);
  const s = asMap(server);
  assert.ok((c.ok ?? 0) > 0 && (c.invalid_argument ?? 0) > 0, JSON.stringify(c));
  // What Prometheus holds for the client is exactly what the bench wrote into summary.json ...
  const fromSummary: Record<string, number> = {};
  for (const st of summary.stages) {
    for (const [code, n] of Object.entries(st.by_twirp_code)) fromSummary[code] = (fromSummary[code] ?? 0) + n;
  }
  assert.deepEqual(c, fromSummary);
  // ... and the server saw every one of those answers, plus at most the requests the bench abandoned in flight
  // when a stage ended (sent, never finished: the server may still have answered them).
  assert.deepEqual(Object.keys(s).sort(), Object.keys(c).sort());
  const unfinished = summary.stages.reduce((n, st) => n + st.counts.sent - st.counts.ok - st.counts.errors, 0);
  let extra = 0;
  for (const code of Object.keys(c)) {
    assert.ok(s[code]! >= c[code]!, `server ${code} ${s[code]} >= client ${c[code]}`);
    extra += s[code]! - c[code]!;
  }
  assert.ok(extra <= unfinished, `server answered ${extra} more than the client counted; ${unfinished} were unfinished`);
});

test('the grafana output annotated each stage and the run, tagged with the run id', () => {
  assert.equal(annotations.length, 3, JSON.stringify(annotations));
  for (const a of annotations) {
    assert.equal(a.path, '/api/annotations');
    assert.equal(a.auth, 'Bearer stack-token');
    assert.ok(a.body.tags.includes('bench') && a.body.tags.includes(`run:${summary.run_id}`), a.body.tags.join(','));
    assert.ok(a.body.time <= a.body.timeEnd);
    assert.ok(a.body.time >= runStartSec * 1000 - 1000 && a.body.timeEnd <= runEndSec * 1000 + 1000, 'inside the run');
  }
  assert.deepEqual(
    annotations.map((a) => a.body.tags.find((t) => t.startsWith('stage:'))),
    ['stage:closed-4', 'stage:open-50', 'stage:all'],
  );
});

test("each dashboard's variables list the run, and its stage annotations match what the bench posted", async () => {
  for (const f of readdirSync(DASHBOARDS_DIR).filter((x) => x.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8')) as {
      templating?: { list?: { name: string; type: string; query?: { query?: string } | string }[] };
      annotations?: { list?: { name: string; builtIn?: number; target?: { type?: string; tags?: string[] } }[] };
    };
    for (const v of d.templating?.list ?? []) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q.trim());
      assert.ok(m, `${f} variable ${v.name}: ${q}`);
      if (v.name === 'run') assert.ok((await prom!.labelValues(m[2]!, m[1]!)).includes(summary.run_id), `${f}: $run lists the run`);
    }
    for (const a of d.annotations?.list ?? []) {
      if (a.builtIn || a.target?.type !== 'tags') continue;
      const wanted = (a.target.tags ?? []).map((tag) => expandGrafanaVars(tag, { run: summary.run_id }));
      const shown = annotations.filter((x) => wanted.every((tag) => x.body.tags.includes(tag)));
      assert.equal(shown.length, annotations.length, `${f} annotation ${a.name} shows every region of the run`);
    }
  }
});

const dashboardQueries: DashboardPromQuery[] = readdirSync(DASHBOARDS_DIR)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => dashboardPromQueries(f, JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), 'utf8'))));

function needsExporter(expr: string): boolean {
  return /\bmysql_/.test(expr);
}

test('every PromQL expression of every dashboard returns data over the run', async (t) => {
  assert.ok(dashboardQueries.length > 20);
  const start = Math.floor(runStartSec) - 2;
  const end = Math.ceil(Date.now() / 1000);
  const vars: Record<string, string> = {
    run: summary.run_id,
    // Grafana sets $__rate_interval to max(4 x scrape interval, step + scrape interval); the bench pushes every
    // 5 s, so a window under 10 s could hold a single bench sample.
    __rate_interval: '15s',
    __interval: '1s',
    __range: `${end - start}s`,
    __range_s: String(end - start),
    __range_ms: String((end - start) * 1000),
  };
  const missing: string[] = [];
  for (const q of dashboardQueries) {
    const where = `${q.dashboard} / ${q.panel} [${q.refId}]`;
    if (needsExporter(q.expr) && !exporterBin) {
      t.diagnostic(`SKIPPED (no mysqld-exporter; apt-get install prometheus-mysqld-exporter): ${where}`);
      continue;
    }
    const expr = expandGrafanaVars(q.expr, vars);
    const series = await prom!.queryRange(expr, start, end, 1);
    const values = series.flatMap((s) => s.values.map((v) => Number(v[1]))).filter((v) => Number.isFinite(v));
    if (values.length === 0) missing.push(`${where}: ${expr}`);
  }
  assert.deepEqual(missing, [], 'expressions without data');
  if (!exporterBin) t.skip('MySQL panels not evaluated: prometheus-mysqld-exporter is not installed');
});

test('every metric the dashboards name exists in Prometheus after the run (except failure-only ones)', async (t) => {
  const names = new Set<string>();
  for (const q of dashboardQueries) {
    // Label names inside by (...) / without (...) look like metric names: leave them out.
    const selectors = q.expr.replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
    for (const m of selectors.matchAll(/\b((?:bench|http_server|pageview|db_client|mysql|nodejs|process)_[a-zA-Z0-9_]+)\b/g)) {
      names.add(m[1]!);
    }
  }
  const absent: string[] = [];
  for (const name of names) {
    if (FAILURE_ONLY.has(name)) continue;
    if (name.startsWith('mysql_') && !exporterBin) continue;
    const found = await prom!.query(`count(last_over_time({__name__="${name}"}[10m]))`);
    if (found.length === 0) absent.push(name);
  }
  assert.deepEqual(absent, [], 'metrics the dashboards query but nobody exports');
  assert.ok(names.size > 20);
  if (!exporterBin) t.skip('mysql_* metrics not checked: prometheus-mysqld-exporter is not installed');
});
