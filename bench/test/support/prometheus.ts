// A throwaway Prometheus for tests: Debian's `prometheus` binary on a free port with its own data directory and
// config, the remote-write receiver on (--web.enable-remote-write-receiver, Prometheus >= 2.33), plus helpers
// for the HTTP query API (https://prometheus.io/docs/prometheus/latest/querying/api/).
// Nothing here touches a Prometheus the machine may run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../service/test/support/mariadb';

export interface ScrapeJob {
  job: string;
  /** host:port targets */
  targets: string[];
  /** extra target labels, e.g. {service: "pageview"} */
  labels?: Record<string, string>;
  metricsPath?: string;
  /** URL query parameters of every scrape, e.g. {window: ['prometheus']} */
  params?: Record<string, string[]>;
}

export interface PrometheusOptions {
  scrapeJobs?: ScrapeJob[];
  /** Prometheus duration, default "1s" so short test runs get enough points. */
  scrapeInterval?: string;
  /** --enable-feature flags, e.g. ['exemplar-storage'] */
  enableFeatures?: string[];
}

export interface Exemplar {
  labels: Record<string, string>;
  value: string;
  timestamp: number;
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface MatrixSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

export class PrometheusQueryError extends Error {
  constructor(
    readonly expr: string,
    readonly errorType: string,
    message: string,
  ) {
    super(`${errorType}: ${message} (in ${expr})`);
  }
}

function findPrometheus(): string {
  for (const p of ['/usr/bin/prometheus', '/usr/local/bin/prometheus', '/usr/sbin/prometheus']) {
    if (existsSync(p)) return p;
  }
  throw new Error("prometheus not found: install Debian's prometheus (apt-get install -y prometheus)");
}

const live = new Set<ChildProcess>();
// A test that dies before its cleanup hook still must not leave a Prometheus behind.
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** The scrape config YAML (JSON is valid YAML, and needs no YAML writer). */
export function prometheusConfig(opts: PrometheusOptions): string {
  const interval = opts.scrapeInterval ?? '1s';
  return JSON.stringify(
    {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      scrape_configs: (opts.scrapeJobs ?? []).map((j) => ({
        job_name: j.job,
        metrics_path: j.metricsPath ?? '/metrics',
        ...(j.params ? { params: j.params } : {}),
        static_configs: [{ targets: j.targets, labels: j.labels ?? {} }],
      })),
    },
    null,
    2,
  );
}

export class Prometheus {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly features: string[] = [],
  ) {}

  static async start(opts: PrometheusOptions = {}): Promise<Prometheus> {
    const dir = await mkdtemp(join(tmpdir(), 'pvlab-prometheus-'));
    await writeFile(join(dir, 'prometheus.yml'), prometheusConfig(opts));
    const prom = new Prometheus(dir, await freePort(), opts.enableFeatures ?? []);
    try {
      await prom.launch();
    } catch (err) {
      await prom.destroy();
      throw err;
    }
    return prom;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The remote-write receiver's endpoint. */
  get writeUrl(): string {
    return `${this.url}/api/v1/write`;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      findPrometheus(),
      [
        `--config.file=${join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--web.enable-remote-write-receiver',
        '--storage.tsdb.retention.time=1d',
        '--log.level=warn',
        ...(this.features.length > 0 ? [`--enable-feature=${this.features.join(',')}`] : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString();
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr.slice(-2000)}`);
      try {
        const res = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        await res.text();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`prometheus not ready within 60s: ${stderr.slice(-2000)}`);
  }

  private async api<T>(path: string, params: Record<string, string>, expr: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success') throw new PrometheusQueryError(expr, body.errorType ?? 'error', body.error ?? `HTTP ${res.status}`);
    return body.data;
  }

  /** Instant query; `timeSec` defaults to now. Returns the vector (scalars come back as one unlabeled sample). */
  async query(expr: string, timeSec?: number): Promise<VectorSample[]> {
    const params: Record<string, string> = { query: expr };
    if (timeSec !== undefined) params.time = String(timeSec);
    const data = await this.api<{ resultType: string; result: unknown }>('/api/v1/query', params, expr);
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as VectorSample[];
  }

  /** Range query over [startSec, endSec] with `stepSec` resolution. */
  async queryRange(expr: string, startSec: number, endSec: number, stepSec: number): Promise<MatrixSeries[]> {
    const data = await this.api<{ result: MatrixSeries[] }>(
      '/api/v1/query_range',
      { query: expr, start: String(startSec), end: String(endSec), step: String(stepSec) },
      expr,
    );
    return data.result;
  }

  /** Exemplars of the series `expr` selects in [startSec, endSec] (needs --enable-feature=exemplar-storage). */
  async queryExemplars(expr: string, startSec: number, endSec: number): Promise<{ seriesLabels: Record<string, string>; exemplars: Exemplar[] }[]> {
    return this.api('/api/v1/query_exemplars', { query: expr, start: String(startSec), end: String(endSec) }, expr);
  }

  /** Values of one label, optionally only on series matching `match` (what Grafana's label_values() asks). */
  async labelValues(label: string, match?: string): Promise<string[]> {
    const q = match ? `?${new URLSearchParams({ 'match[]': match }).toString()}` : '';
    const res = await fetch(`${this.url}/api/v1/label/${encodeURIComponent(label)}/values${q}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: string[]; error?: string };
    if (body.status !== 'success') throw new PrometheusQueryError(match ?? label, 'error', body.error ?? `HTTP ${res.status}`);
    return body.data;
  }

  /** Active scrape targets and their health. */
  async targets(): Promise<{ job: string; health: string; lastError: string; labels: Record<string, string> }[]> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as {
      data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
    };
    return body.data.activeTargets.map((t) => ({ job: t.labels.job ?? '', health: t.health, lastError: t.lastError, labels: t.labels }));
  }

  /** Polls an instant query until it returns at least one sample; bounded by `attempts` x 250 ms. */
  async waitForData(expr: string, attempts = 120): Promise<VectorSample[]> {
    let last: VectorSample[] = [];
    for (let i = 0; i < attempts; i++) {
      last = await this.query(expr);
      if (last.length > 0) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no data for ${expr} after ${attempts} attempts`);
  }

  async config(): Promise<string> {
    return readFile(join(this.dir, 'prometheus.yml'), 'utf8');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops Prometheus and removes its data directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The PromQL inside Grafana dashboards, so tests can run every dashboard expression through this Prometheus.

export const DASHBOARDS_DIR = join(__dirname, '..', '..', '..', 'grafana', 'dashboards');

export interface DashboardPromQuery {
  dashboard: string;
  panel: string;
  refId: string;
  /** as written in the dashboard, with Grafana variables */
  expr: string;
  /** Grafana evaluates it once, at the end of the time range (stat and table panels), not as a range */
  instant: boolean;
}

interface PanelLike {
  title?: string;
  type?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: { refId?: string; expr?: string; instant?: boolean; range?: boolean; datasource?: { type?: string; uid?: string } | null }[];
  panels?: PanelLike[];
}

/** Every panel, including those nested in collapsed rows. */
export function allPanels(dashboard: { panels?: PanelLike[] }): PanelLike[] {
  const out: PanelLike[] = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p);
    for (const nested of p.panels ?? []) out.push(nested);
  }
  return out;
}

/** The Prometheus expressions of every panel target whose datasource (own or the panel's) is Prometheus. */
export function dashboardPromQueries(file: string, dashboard: { title?: string; panels?: PanelLike[] }): DashboardPromQuery[] {
  const out: DashboardPromQuery[] = [];
  for (const p of allPanels(dashboard)) {
    for (const t of p.targets ?? []) {
      const ds = t.datasource ?? p.datasource;
      if (ds?.type !== 'prometheus') continue;
      out.push({
        dashboard: file,
        panel: p.title ?? '(untitled)',
        refId: t.refId ?? '?',
        expr: t.expr ?? '',
        instant: t.instant === true && t.range !== true,
      });
    }
  }
  return out;
}

/** Grafana's global variables (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/#global-variables) a test must replace. */
export const GRAFANA_GLOBAL_VARS = [
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
  '__dashboard',
  '__org',
  '__user',
];

/** Replaces $name, ${name} and [[name]] the way Grafana does, longest names first; unknown names are left as is. */
export function expandGrafanaVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    return Object.hasOwn(vars, name) ? vars[name]! : whole;
  });
}

/** Names of the variables a text refers to ($name, ${name}, [[name]]). */
export function referencedVars(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g)) out.add(m[1] ?? m[2] ?? m[3] ?? '');
  return [...out];
}
