// A comparison of two runs as text (the console table `bench compare` prints) and as a self-contained HTML page
// with both runs' charts drawn over each other. Printers return strings; nothing here writes.
import type { Comparison, MetricChange, Verdict } from './compare-runs';
import type { FailOnResult } from './fail-on';
import type { LoadedSummary } from './load-summary';
import { overlayCharts } from './chart-data';
import { chartCard, esc, fmtChange, fmtDate, fmtMs, fmtPct, fmtRate, page, sig3 } from './html-page';

const LABEL: Record<MetricChange['metric'], string> = {
  achieved_rate: 'achieved rate', p50: 'p50', p99: 'p99', error_rate: 'error rate', rows_per_flush: 'rows per flush',
};

function value(m: MetricChange, v: number | null): string {
  if (v === null) return '–';
  switch (m.metric) {
    case 'achieved_rate': return `${fmtRate(v)} req/s`;
    case 'p50': case 'p99': return `${fmtMs(v)} ms`;
    case 'error_rate': return fmtPct(v, 3);
    case 'rows_per_flush': return sig3(v);
  }
}

function pp(v: number): string {
  const x = v * 100;
  const s = Math.abs(x) >= 10 ? x.toFixed(1) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3);
  return `${x > 0 ? '+' : x < 0 ? '' : '±'}${s.replace(/\.?0+$/, '') || '0'}pp`;
}

/** "+38%", or for error rate "+0.52pp". */
export function changeText(m: MetricChange): string {
  if (m.scale === 'absolute') return m.absolute === null ? '–' : pp(m.absolute);
  if (m.relative === null) return m.base === 0 && m.next !== null && m.next > 0 ? 'new (base 0)' : '–';
  return fmtChange(m.relative);
}

export function intervalText(m: MetricChange): string {
  if (!m.interval) return '–';
  if (m.scale === 'absolute') return `${pp(m.interval.lo)}..${pp(m.interval.hi)}`;
  return `${fmtChange(m.interval.lo)}..${fmtChange(m.interval.hi)}`;
}

/** The sentence for one metric: "p99 +38% (95% interval +30..+45%): regression". */
export function sentence(m: MetricChange, confidence: number): string {
  const iv = m.interval ? ` (${Math.round(confidence * 100)}% interval ${intervalText(m)})` : m.why ? ` (${m.why})` : '';
  return `${LABEL[m.metric]} ${changeText(m)}${iv}: ${m.verdict}`;
}

function pText(p: number | null): string {
  if (p === null) return '–';
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function runLine(label: string, r: Comparison['base']): string {
  return `${label} ${r.run_id}${r.git_commit ? ` (commit ${r.git_commit.slice(0, 12)})` : ''}${r.profile ? `, profile ${r.profile}` : ''}: ${r.source}`;
}

function headline(c: Comparison): string[] {
  const out: string[] = [];
  for (const s of c.stages) {
    for (const m of s.metrics) if (m.verdict === 'regression' || m.verdict === 'improvement') out.push(`${s.name}: ${sentence(m, c.options.confidence)}`);
  }
  return out;
}

export function verdictWord(v: Verdict): string {
  return v === 'regression' ? 'REGRESSION' : v === 'improvement' ? 'IMPROVEMENT' : v === 'within noise' ? 'WITHIN NOISE' : v === 'changed' ? 'CHANGED (no noise estimate)' : 'NO DATA';
}

export function renderCompareText(c: Comparison, gates: FailOnResult[] = []): string {
  const lines: string[] = [runLine('base', c.base), runLine('new ', c.next), ''];
  const conf = `${Math.round(c.options.confidence * 100)}% interval`;
  const rows: string[][] = [['stage', 'metric', 'base', 'new', 'change', conf, 'rank p', 'verdict']];
  const whys: string[] = [];
  for (const s of c.stages) {
    s.metrics.forEach((m, i) => {
      let mark = '';
      if (m.why && !m.interval) {
        if (!whys.includes(m.why)) whys.push(m.why);
        mark = ` ${'*'.repeat(whys.indexOf(m.why) + 1)}`;
      }
      rows.push([i === 0 ? s.name : '', LABEL[m.metric], value(m, m.base), value(m, m.next), changeText(m), intervalText(m), pText(m.p), m.verdict + mark]);
    });
  }
  if (c.stages.length > 0) lines.push(pad(rows));
  whys.forEach((w, i) => lines.push(`${'*'.repeat(i + 1)} ${w}`));
  if (c.stages.length > 0) lines.push('');
  if (c.onlyInBase.length) lines.push(`only in base: ${c.onlyInBase.join(', ')}`);
  if (c.onlyInNext.length) lines.push(`only in new: ${c.onlyInNext.join(', ')}`);
  for (const n of c.notes) lines.push(`note: ${n}`);
  const secs = c.stages.map((s) => `${s.name} ${s.baseSeconds}/${s.nextSeconds}`).join(', ');
  if (secs) lines.push(`per-second intervals (base/new): ${secs}; bootstrap ${c.options.resamples} resamples, seed ${c.options.seed}; a change counts when the interval excludes none, rank p < ${Math.round((1 - c.options.confidence) * 1000) / 1000} and it is at least ${fmtChange(c.options.minEffect)} (error rate ${pp(c.options.minErrorRateEffect)})`);
  lines.push('');
  const why = headline(c);
  lines.push(`Verdict: ${verdictWord(c.verdict)}`);
  for (const w of why) lines.push(`  ${w}`);
  for (const g of gates) {
    lines.push(`${g.crossed ? 'FAIL' : 'ok  '} --fail-on '${g.gate.expr}' ${g.stage}: ${g.change === null ? 'no data' : gateChange(g)}${g.crossed ? ' (crossed)' : ''}${g.why ? ` (past the bound, but within noise: ${g.why})` : ''}${g.basis !== 'interval' ? ` [${g.basis}]` : ''}`);
  }
  return lines.join('\n') + '\n';
}

function gateChange(g: FailOnResult): string {
  const v = g.change!;
  if (!Number.isFinite(v)) return 'new (base 0)';
  if (g.gate.unit === '%') return fmtChange(v);
  if (g.gate.unit === 'pp') return pp(v);
  return `${v > 0 ? '+' : ''}${sig3(v)}${g.gate.unit}`;
}

/** "run-folder/summary.json": enough to tell two runs apart. */
function shortPath(p: string): string {
  return p.split('/').slice(-2).join('/');
}

function verdictClass(v: Verdict): string {
  return v === 'regression' ? 'bad' : v === 'improvement' ? 'ok' : v === 'within noise' ? 'info' : 'warn';
}

export function renderCompareHtml(c: Comparison, base: LoadedSummary, next: LoadedSummary, gates: FailOnResult[] = []): string {
  const charts = overlayCharts(base.doc, next.doc);
  const runCell = (label: string, r: Comparison['base']) => `<div><dt>${esc(label)}</dt><dd><span class="mono">${esc(r.run_id)}</span><div class="muted">${r.git_commit ? `commit <span class="mono">${esc(r.git_commit.slice(0, 12))}</span> · ` : ''}${esc(fmtDate(r.started_at))}${r.target ? ` · <span class="mono">${esc(r.target)}</span>` : ''}</div></dd></div>`;
  const rows = c.stages.flatMap((s) => s.metrics.map((m, i) => `<tr data-stage="${esc(s.name)}" data-metric="${m.metric}">${i === 0 ? `<td rowspan="${s.metrics.length}"><strong>${esc(s.name)}</strong><div><span class="pill ${verdictClass(s.verdict)}">${esc(s.verdict)}</span></div></td>` : ''}
<td>${esc(LABEL[m.metric])}</td><td class="num">${esc(value(m, m.base))}</td><td class="num">${esc(value(m, m.next))}</td>
<td class="num ${m.verdict === 'regression' ? 'delta-bad' : m.verdict === 'improvement' ? 'delta-good' : ''}">${esc(changeText(m))}</td><td class="num">${esc(intervalText(m))}</td><td class="num">${esc(pText(m.p))}</td>
<td><span class="pill ${verdictClass(m.verdict)}">${esc(m.verdict)}</span>${m.why && !m.interval ? `<div class="muted">${esc(m.why)}</div>` : ''}</td></tr>`));
  const why = headline(c);
  const gateRows = gates.map((g) => `<tr><td>${g.crossed ? '<span class="pill bad">crossed</span>' : '<span class="pill ok">held</span>'}</td><td class="mono">${esc(g.gate.expr)}</td><td>${esc(g.stage)}</td><td class="num">${esc(g.change === null ? '–' : gateChange(g))}</td><td class="muted">${esc(g.why ? `${g.basis}: past the bound, within noise (${g.why})` : g.basis)}</td></tr>`);
  const body = `<header class="top"><div><h1>Comparison · ${esc(c.base.profile ?? '?')}</h1><div class="sub">base <span class="mono">${esc(c.base.run_id)}</span> → new <span class="mono">${esc(c.next.run_id)}</span></div></div>
<div class="verdict ${verdictClass(c.verdict) === 'info' ? 'ok' : verdictClass(c.verdict)}" id="verdict"><span class="word">${esc(verdictWord(c.verdict))}</span><small>${esc(why[0] ?? `${c.stages.length} stages compared`)}</small></div></header>
<section class="card"><h2>Runs</h2><dl class="meta two">${runCell('Base', c.base)}${runCell('New', c.next)}</dl>
${why.length > 1 ? `<ul class="notes">${why.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : ''}
${c.notes.length || c.onlyInBase.length || c.onlyInNext.length ? `<div class="missing"><ul class="notes">${[...c.notes, ...(c.onlyInBase.length ? [`only in base: ${c.onlyInBase.join(', ')}`] : []), ...(c.onlyInNext.length ? [`only in new: ${c.onlyInNext.join(', ')}`] : [])].map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>` : ''}</section>
${gates.length ? `<section class="card" id="gates"><h2>Gates (--fail-on)</h2><div class="table-wrap"><table><thead><tr><th></th><th>gate</th><th>stage</th><th class="num">change</th><th>judged on</th></tr></thead><tbody>${gateRows.join('')}</tbody></table></div></section>` : ''}
<section class="card" id="changes"><h2>Stage by stage</h2><p class="muted">Intervals: bootstrap over each stage's per-second values (${c.options.resamples} resamples, seeded), placed around the stage's own figure; rank p: Mann-Whitney over the same seconds. A regression or improvement needs the interval to exclude no change, the rank test's p below ${esc(String(Math.round((1 - c.options.confidence) * 1000) / 1000))} and a change of at least ${esc(fmtChange(c.options.minEffect))} (error rate ${esc(pp(c.options.minErrorRateEffect))}); anything else is within noise.</p>
<div class="table-wrap"><table id="compare-table"><thead><tr><th>stage</th><th>metric</th><th class="num">base</th><th class="num">new</th><th class="num">change</th><th class="num">${Math.round(c.options.confidence * 100)}% interval</th><th class="num">rank p</th><th>verdict</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>
<section class="card" id="charts"><h2>Both runs <span class="count">base solid, new dashed; the new run's stages placed on the base run's clock</span></h2>${charts.length ? `<div class="charts">${charts.map((ch) => chartCard(ch, ch.xKind === 'percentile')).join('')}</div>` : '<div class="missing">Neither run has a per-second timeline or a latency histogram to draw.</div>'}</section>
<footer>Rendered from ${esc(shortPath(c.base.source))} and ${esc(shortPath(c.next.source))} by npm run bench -- compare. Self-contained: this file makes no network request.</footer>`;
  return page({ title: `Comparison · ${c.base.run_id} → ${c.next.run_id}`, body, charts, generator: 'npm run bench -- compare' });
}
