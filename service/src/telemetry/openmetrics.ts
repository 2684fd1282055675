// GET /metrics in OpenMetrics 1.0 (https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md)
// for scrapers that ask for it, so the request-duration histogram's exemplars (trace ids) reach Prometheus
// (--enable-feature=exemplar-storage); everyone else keeps prom-client's text format 0.0.4, which has no exemplars.
//
// Written here rather than by prom-client's own OpenMetrics mode: that mode is a property of a whole Registry, and
// rendering with it renames each counter object in place (`pageview_pushes_total` becomes `pageview_pushes`), so
// one registry cannot answer both formats, and a second registry would share the same, renamed, metric objects.
// This renders from registry.getMetricsAsJSON() (public) and leaves the metrics untouched.
import type { Registry } from 'prom-client';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Whether an Accept header asks for OpenMetrics (Prometheus sends it first, with the text format as a fallback). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().split(';').map((s) => s.trim());
    if (type?.toLowerCase() !== 'application/openmetrics-text') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

interface JsonValue {
  labels?: Record<string, string | number>;
  value: number;
  metricName?: string;
  exemplar?: { labelSet: Record<string, string | number>; value: number; timestamp: number } | null;
}

interface JsonMetric {
  name: string;
  help: string;
  type: string;
  values?: JsonValue[];
}

export async function renderOpenMetrics(registry: Registry): Promise<string> {
  const metrics = (await registry.getMetricsAsJSON()) as unknown as JsonMetric[];
  const out: string[] = [];
  for (const m of metrics) {
    const counter = m.type === 'counter';
    // A counter's family has no _total; its samples do (OpenMetrics "Counter").
    const family = counter ? m.name.replace(/_total$/, '') : m.name;
    out.push(`# HELP ${family} ${escapeHelp(m.help)}`);
    out.push(`# TYPE ${family} ${TYPES[m.type] ?? 'unknown'}`);
    for (const v of m.values ?? []) {
      let name = v.metricName ?? m.name;
      if (counter && !name.endsWith('_total')) name = `${family}_total`;
      let line = `${name}${labelText(v.labels)} ${num(v.value)}`;
      if (v.exemplar) line += ` # ${labelText(v.exemplar.labelSet) || '{}'} ${num(v.exemplar.value)} ${v.exemplar.timestamp.toFixed(3)}`;
      out.push(line);
    }
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}

const TYPES: Record<string, string> = { counter: 'counter', gauge: 'gauge', histogram: 'histogram', summary: 'summary' };

function labelText(labels: Record<string, string | number> | undefined): string {
  if (labels === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabel(typeof v === 'number' ? num(v) : String(v))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(s: string): string {
  return escapeLabel(s);
}
