// A reader for the Prometheus text exposition format (version 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format): enough to take counters,
// gauges and histogram series apart by name and labels. Comments, HELP and TYPE lines are skipped; label values
// may contain escaped quotes, backslashes and newlines; values may be NaN, +Inf, -Inf; timestamps are ignored.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class PrometheusTextError extends Error {
  readonly code = 'BENCH_METRICS_PARSE';
}

export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      out.push(parseLine(line));
    } catch (e) {
      throw new PrometheusTextError(`metrics line ${i + 1}: ${(e as Error).message}: ${line.slice(0, 200)}`);
    }
  }
  return out;
}

function parseLine(line: string): Sample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++;
  const name = line.slice(0, i);
  if (name === '') throw new Error('no metric name');
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') { i++; break; }
      const start = i;
      while (i < line.length && /[a-zA-Z0-9_]/.test(line[i]!)) i++;
      const key = line.slice(start, i);
      if (key === '' || line[i] !== '=' || line[i + 1] !== '"') throw new Error('bad label');
      i += 2;
      let value = '';
      for (;;) {
        const ch = line[i];
        if (ch === undefined) throw new Error('unterminated label value');
        if (ch === '\\') {
          const next = line[i + 1];
          value += next === 'n' ? '\n' : next ?? '';
          i += 2;
          continue;
        }
        if (ch === '"') { i++; break; }
        value += ch;
        i++;
      }
      labels[key] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0]);
  return { name, labels, value };
}

function parseValue(s: string | undefined): number {
  if (s === undefined || s === '') throw new Error('no value');
  const lower = s.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  // prom-client writes "Nan" for an empty gauge average; the spec's spelling is NaN. Accept any case.
  if (s.toLowerCase() === 'nan') return NaN;
  const v = Number(s);
  if (Number.isNaN(v)) throw new Error(`bad value "${s}"`);
  return v;
}

/** Sum of every sample of `name` whose labels include `match`, grouped by the value of label `by` (if given). */
export function sumBy(samples: Sample[], name: string, match: Record<string, string> = {}, by?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const key = by === undefined ? '' : (s.labels[by] ?? '');
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    total = (total ?? 0) + s.value;
  }
  return total;
}
