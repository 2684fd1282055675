// Bench output `grafana` (--grafana URL): one region annotation per stage and one for the whole run, so every
// panel of the "Stress run" dashboard shows where each stage began and ended.
//
// Grafana HTTP API: POST /api/annotations with {time, timeEnd, tags, text} (epoch milliseconds; a timeEnd makes
// it a region), https://grafana.com/docs/grafana/latest/developer-resources/api-reference/http-api/annotations/
// No dashboardUID is set: these are organisation annotations, and the dashboard's annotation query picks them
// up by tag (`bench` and `run:<id>`), so one run's regions show on any dashboard that asks for them.
//
// Tags: `bench`, `run:<run id>`, `profile:<profile>`, `stage:<stage name>` (the whole-run region has
// `stage:all`). Auth: a Bearer token (a Grafana service account token; the CLI reads it from the environment),
// or user:password in the URL, sent as Basic auth (fetch refuses URLs with credentials). Without either, the
// request goes out anonymous (the compose stack's Grafana lets anonymous editors annotate).
//
// Never in the way of the load: `add` queues the request (bounded) and returns; one sender posts them in the
// background, each with a timeout. A failed post is counted and logged, not retried, and never fails the run.
import pino from 'pino';
import type { BenchEvent, Output, RunInfo, StageInfo, StageResult, Summary } from '../types';
import { BackgroundSender } from './background-sender';

export interface GrafanaAnnotationsOptions {
  /** Grafana's base URL, e.g. http://127.0.0.1:3000 (a sub-path such as http://host/grafana is kept). */
  url: string;
  /** Service account token, sent as `Authorization: Bearer <token>` (the CLI reads it from GRAFANA_TOKEN). */
  token?: string;
  /** Per-request timeout; 0 or unset = 5000 ms, clamped to 100..60000. `stop` waits at most twice this. */
  timeoutMs?: number;
  logger?: Pick<pino.BaseLogger, 'warn' | 'info'>;
}

export const GRAFANA_ERROR_CODES = {
  BAD_OPTIONS: 'BENCH_GRAFANA_BAD_OPTIONS',
} as const;

export class GrafanaAnnotationsError extends Error {
  readonly code = GRAFANA_ERROR_CODES.BAD_OPTIONS;
  constructor(message: string) {
    super(message);
    this.name = 'GrafanaAnnotationsError';
  }
}

/** The JSON body of one POST /api/annotations. */
export interface AnnotationRequest {
  time: number;
  timeEnd: number;
  tags: string[];
  text: string;
}

export interface GrafanaAnnotationsStats {
  posted: number;
  failed: number;
  lastError: string | null;
  /** ids Grafana gave the annotations, in posting order */
  ids: number[];
}

export interface GrafanaAnnotationsOutput extends Output {
  stats(): GrafanaAnnotationsStats;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** Profiles have a handful of stages; the bound only guards against a runaway caller. */
const MAX_QUEUED = 256;

/** Grafana tags are free text; keep them short and free of commas (the UI splits tag lists on them). */
function tagValue(v: string): string {
  return v.replace(/[,\s]+/g, '_').slice(0, 100);
}

export function runTags(run: RunInfo, stage: string): string[] {
  return ['bench', `run:${tagValue(run.runId)}`, `profile:${tagValue(run.profile)}`, `stage:${tagValue(stage)}`];
}

function fmtMs(ms: number): string {
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(2)} ms`;
}

/** One line a person reads when hovering the region. */
export function stageText(run: RunInfo, stage: StageInfo, result: StageResult | undefined): string {
  const head = `${run.profile} ${run.runId}: stage ${stage.name} (${stage.model})`;
  if (!result?.counts) return `${head}: ended without a result`;
  const c = result.counts;
  const codes = Object.entries(result.by_twirp_code ?? {})
    .filter(([code, n]) => code !== 'ok' && n > 0)
    .map(([code, n]) => `${code}=${n}`)
    .join(' ');
  const target = result.rate?.target != null ? `target ${result.rate.target}/s, ` : '';
  return (
    `${head}: ${c.ok} ok, ${c.errors} errors, ${c.timeouts} timeouts, ${c.dropped} dropped; ` +
    `${target}achieved ${result.rate?.achieved?.toFixed(1) ?? '?'}/s; ` +
    `p50 ${fmtMs(result.latency_ms?.p50 ?? 0)}, p99 ${fmtMs(result.latency_ms?.p99 ?? 0)}` +
    (codes ? `; ${codes}` : '')
  );
}

export function runText(run: RunInfo, summary: Summary): string {
  const failed = (summary.thresholds ?? []).filter((t) => !t.passed).map((t) => (t.stage ? `${t.stage}: ${t.expr}` : t.expr));
  const verdict = summary.passed ? 'passed' : `FAILED (${failed.join('; ') || 'see summary.json'})`;
  return `${run.profile} ${run.runId}: run ${verdict}${summary.aborted ? ', aborted' : ''}; target ${run.target}`;
}

export function grafanaAnnotationsOutput(opts: GrafanaAnnotationsOptions): GrafanaAnnotationsOutput {
  let base: URL;
  try {
    base = new URL(opts.url);
  } catch {
    throw new GrafanaAnnotationsError(`--grafana: not a URL: ${JSON.stringify(opts.url)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new GrafanaAnnotationsError(`--grafana: must be http(s), got ${base.protocol}`);
  }
  const t = opts.timeoutMs;
  if (t !== undefined && (!Number.isFinite(t) || t < 0)) {
    throw new GrafanaAnnotationsError(`timeoutMs must be a positive number, got ${t}`);
  }
  const timeoutMs = !t ? DEFAULT_TIMEOUT_MS : Math.min(60_000, Math.max(100, Math.round(t)));

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  else if (base.username) {
    const user = decodeURIComponent(base.username);
    const pass = decodeURIComponent(base.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  base.username = '';
  base.password = '';
  const endpoint = new URL(base.pathname.replace(/\/+$/, '') + '/api/annotations', base);
  const log = opts.logger ?? pino({ name: 'bench-grafana', level: 'info' }, pino.destination(2));

  let run: RunInfo | undefined;
  const stageStarts = new Map<number, { info: StageInfo; at: number; ended: boolean }>();
  const stats: GrafanaAnnotationsStats = { posted: 0, failed: 0, lastError: null, ids: [] };
  let stopping = false;

  const fail = (req: AnnotationRequest, why: string): void => {
    stats.failed++;
    if (stats.lastError !== why) log.warn({ url: endpoint.href, error: why, tags: req.tags }, 'grafana annotation not posted');
    stats.lastError = why;
  };

  const post = async (req: AnnotationRequest, stopSignal: AbortSignal): Promise<void> => {
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(req),
        signal: AbortSignal.any([stopSignal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) {
        stats.posted++;
        try {
          const id = (JSON.parse(text) as { id?: unknown }).id;
          if (typeof id === 'number') stats.ids.push(id);
        } catch {
          // a 2xx without a JSON body still means it was stored
        }
      } else {
        fail(req, `HTTP ${res.status}: ${text.trim().slice(0, 200)}`);
      }
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      fail(req, cause?.code ?? (err instanceof Error ? `${err.name}: ${err.message}` : String(err)));
    }
  };

  const sender = new BackgroundSender<AnnotationRequest>({ maxQueued: MAX_QUEUED, whenFull: 'refuse-new', send: post, drop: fail });
  const enqueue = (req: AnnotationRequest): void => sender.push(req, 'queue full');

  return {
    name: 'grafana',

    async start(info: RunInfo): Promise<void> {
      run = info;
    },

    add(event: BenchEvent): void {
      try {
        if (!run || stopping) return;
        if (event.type === 'stage-start') {
          stageStarts.set(event.stage.index, { info: event.stage, at: event.at, ended: false });
        } else if (event.type === 'stage-end') {
          const st = stageStarts.get(event.stage.index);
          const startAt = st?.at ?? (event.result?.started_at ? Date.parse(event.result.started_at) : event.at);
          if (st) st.ended = true;
          enqueue({
            time: Math.round(startAt),
            timeEnd: Math.round(Math.max(startAt, event.at)),
            tags: runTags(run, event.stage.name),
            text: stageText(run, event.stage, event.result),
          });
        }
      } catch {
        // never throw into the runner
      }
    },

    async stop(summary: Summary): Promise<string[]> {
      if (stopping || !run) return [];
      stopping = true;
      const endedAt = Date.parse(summary.ended_at);
      const end = Number.isFinite(endedAt) ? endedAt : Date.now();
      // A stage that started and never ended (an aborted run) still gets its region, up to the run's end.
      for (const st of stageStarts.values()) {
        if (st.ended) continue;
        enqueue({
          time: Math.round(st.at),
          timeEnd: Math.round(Math.max(st.at, end)),
          tags: runTags(run, st.info.name),
          text: stageText(run, st.info, undefined),
        });
      }
      enqueue({
        time: Math.round(run.startedAt),
        timeEnd: Math.round(Math.max(run.startedAt, end)),
        tags: runTags(run, 'all'),
        text: runText(run, summary),
      });
      await sender.drain(2 * timeoutMs);
      const tally = { url: endpoint.href, posted: stats.posted, failed: stats.failed, lastError: stats.lastError };
      if (stats.failed === 0) {
        log.info(tally, 'grafana annotations posted');
        return [];
      }
      log.warn(tally, 'grafana annotations finished with failures');
      return [`${stats.failed} of ${stats.posted + stats.failed} annotations were not posted to ${endpoint.href} (last error: ${stats.lastError})`];
    },

    stats(): GrafanaAnnotationsStats {
      return { ...stats, ids: [...stats.ids] };
    },
  };
}
