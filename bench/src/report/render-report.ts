// summary.json -> report.html: one self-contained page a team sends around after a run. It renders the summary
// and nothing else; where a field is absent (an older bench, a run that ended early) it shows what it has and
// says what is missing.
import type { LoadedSummary, SummaryDoc } from './load-summary';
import { spectrumChart, timelineCoverage, timeCharts, type ChartSpec } from './chart-data';
import { chartCard, esc, fmtDate, fmtDuration, fmtInt, fmtMs, fmtPct, fmtRate, page, sig3 } from './html-page';
import { arr, at, counts, num, numAt, obj, objs, str, timeMs, type Obj } from './read-fields';

export interface RenderOptions {
  /** Shown in the footer and the page's generator tag. */
  generator?: string;
}

const LATENCY_KEYS = [['p50', 'p50'], ['p90', 'p90'], ['p99', 'p99'], ['p999', 'p99.9'], ['max', 'max']] as const;

export function renderReport(loaded: LoadedSummary, opts: RenderOptions = {}): string {
  const doc = loaded.doc;
  const missing: string[] = [];
  const charts: ChartSpec[] = [];
  const cov = timelineCoverage(doc);
  const time = timeCharts(doc);
  charts.push(...time);
  const spectrum = spectrumChart(doc);
  if (spectrum) charts.push(spectrum);

  if (cov.stagesWithTimeline === 0 && cov.stages > 0) missing.push('no per-second timeline (stages[].timeline): the charts over time are not drawn');
  else if (cov.stagesWithTimeline < cov.stages) missing.push(`per-second timeline for ${cov.stagesWithTimeline} of ${cov.stages} stages only (stages[].timeline)`);
  if (cov.stagesWithServerTimeline === 0 && cov.stages > 0) missing.push('no server timeline (stages[].server_timeline): the server charts are not drawn');
  if (!spectrum && cov.stages > 0) missing.push('no latency histogram (stages[].latency_hdr): no percentile spectrum');
  if (doc.git_commit === undefined) missing.push('no git_commit: the code this run measured is not recorded');

  const title = `Stress run · ${str(doc.profile) ?? 'profile ?'}`;
  const body = [
    header(doc, title),
    runCard(doc),
    notesCard(doc, loaded, missing),
    thresholdsCard(doc),
    breakpointCard(doc),
    stagesCard(doc),
    latencyCard(doc),
    serverCard(doc),
    generatorCard(doc),
    chartsCard(time, cov.stages > 0 && cov.stagesWithTimeline === 0),
    spectrum ? `<section class="card" id="spectrum"><h2>Latency percentile spectrum</h2><div class="charts">${chartCard(spectrum, true)}</div></section>` : '',
    worstCard(doc),
    apmAbCard(doc),
    workersCard(doc),
    `<footer>Rendered from ${esc(loaded.source.replace(/^.*\//, ''))} (schema version ${esc(doc.schema_version)}) by ${esc(opts.generator ?? 'bench report')}. Self-contained: this file makes no network request.</footer>`,
  ].filter(Boolean).join('\n');
  return page({ title: `${title} · ${doc.run_id}`, body, charts, generator: opts.generator ?? 'bench report' });
}

/** The verdict: passed / thresholds failed / run failed, and why. */
export function verdictOf(doc: SummaryDoc): { cls: 'ok' | 'bad' | 'warn'; text: string; detail: string } {
  const thresholds = objs(doc.thresholds);
  const failed = thresholds.filter((t) => t.passed === false).length;
  if (typeof doc.error === 'string') return { cls: 'bad', text: 'RUN FAILED', detail: doc.error };
  if (doc.interrupted === true) return { cls: 'warn', text: 'INTERRUPTED', detail: 'the run was stopped before its end' };
  if (doc.passed === true) return { cls: 'ok', text: 'PASSED', detail: `all ${thresholds.length} threshold checks held` };
  if (doc.passed === false) return { cls: 'bad', text: 'FAILED', detail: `${failed} of ${thresholds.length} threshold checks failed${doc.aborted === true ? ', run aborted' : ''}` };
  return { cls: 'warn', text: 'NO VERDICT', detail: 'the summary has no passed field' };
}

function header(doc: SummaryDoc, title: string): string {
  const v = verdictOf(doc);
  return `<header class="top"><div><h1>${esc(title)}</h1><div class="sub mono">${esc(doc.run_id)}</div></div>
<div class="verdict ${v.cls}" id="verdict"><span class="word">${esc(v.text)}</span><small>${esc(v.detail)}</small></div></header>`;
}

function metaItem(label: string, value: string, id?: string): string {
  return `<div${id ? ` id="${id}"` : ''}><dt>${esc(label)}</dt><dd>${value}</dd></div>`;
}

function runCard(doc: SummaryDoc): string {
  const started = timeMs(doc.started_at);
  const ended = timeMs(doc.ended_at);
  const workers = objs(doc.workers);
  const warmup = obj(doc.warmup);
  const service = obj(doc.service);
  const commit = str(doc.git_commit);
  const items = [
    metaItem('Run id', `<span class="mono">${esc(doc.run_id)}</span>`, 'meta-run-id'),
    metaItem('Profile', esc(str(doc.profile) ?? '–'), 'meta-profile'),
    metaItem('Target', `<span class="mono">${esc(str(doc.target) ?? '–')}</span>`, 'meta-target'),
    metaItem('Git commit', commit ? `<span class="mono" title="${esc(commit)}">${esc(commit.slice(0, 12))}</span>` : '<span class="muted">not recorded</span>', 'meta-commit'),
    metaItem('Started', fmtDate(doc.started_at), 'meta-started'),
    metaItem('Ended', fmtDate(doc.ended_at), 'meta-ended'),
    metaItem('Duration', fmtDuration(started !== null && ended !== null ? ended - started : null)),
    metaItem('Workers', workers.length > 0 ? `${workers.length} processes` : doc.workers === undefined ? '1 process' : 'none recorded', 'meta-workers'),
    metaItem('Stages', String(doc.stages.length)),
  ];
  if (warmup) {
    const load = num(warmup.rate) !== null ? `${fmtRate(num(warmup.rate))} req/s` : num(warmup.connections) !== null ? `${fmtInt(num(warmup.connections))} connections` : '';
    items.push(metaItem('Warm-up (in no stage)', `${fmtDuration(num(warmup.duration_ms))}${load ? ` at ${load}` : ''}, ${fmtInt(num(warmup.sent))} sent${num(warmup.p99_ms) !== null ? `, p99 ${fmtMs(num(warmup.p99_ms))} ms` : ''}`, 'meta-warmup'));
  }
  if (service) {
    const code = num(service.exit_code);
    items.push(metaItem('Service', `self-started, ${esc(str(service.store) ?? '?')} store, ${code === 0 ? 'exited cleanly' : `exit ${esc(code ?? str(service.signal) ?? '?')}`}`));
  }
  if (str(doc.kibana_url)) items.push(metaItem('Kibana', `<a href="${esc(str(doc.kibana_url))}">${esc(str(doc.kibana_url))}</a>`));
  items.push(metaItem('Summary schema', `version ${esc(doc.schema_version)}`));
  return `<section class="card" id="run"><h2>Run</h2><dl class="meta">${items.join('')}</dl></section>`;
}

function notesCard(doc: SummaryDoc, loaded: LoadedSummary, missing: string[]): string {
  const warnings = arr(doc.warnings).filter((w): w is string => typeof w === 'string');
  const lines: string[] = [];
  if (typeof doc.abort_reason === 'string') lines.push(`<li><span class="pill bad">aborted</span> ${esc(doc.abort_reason)}</li>`);
  if (typeof doc.error === 'string') lines.push(`<li><span class="pill bad">error</span> ${esc(doc.error)}</li>`);
  for (const w of warnings) lines.push(`<li><span class="pill warn">warning</span> ${esc(w)}</li>`);
  const gaps = [...loaded.notes, ...missing];
  const gapHtml = gaps.length ? `<div class="missing" id="missing"><strong>Not in this summary:</strong><ul class="notes">${gaps.map((g) => `<li>${esc(g)}</li>`).join('')}</ul></div>` : '';
  if (lines.length === 0 && !gapHtml) return '';
  return `<section class="card" id="notes"><h2>Warnings and gaps</h2>${lines.length ? `<ul class="notes">${lines.join('')}</ul>` : ''}${gapHtml}</section>`;
}

function passPill(p: unknown): string {
  return p === true ? '<span class="pill ok">ok</span>' : p === false ? '<span class="pill bad">FAIL</span>' : '<span class="pill warn">?</span>';
}

function thresholdsCard(doc: SummaryDoc): string {
  const ts = objs(doc.thresholds);
  if (ts.length === 0) return `<section class="card" id="thresholds"><h2>Thresholds</h2><div class="missing">No thresholds were checked in this run.</div></section>`;
  const rows = ts.map((t) => `<tr><td>${passPill(t.passed)}</td><td class="mono">${esc(str(t.expr) ?? '?')}</td><td>${t.stage === null ? '<em>run</em>' : esc(str(t.stage) ?? '?')}</td><td class="num" data-field="value">${num(t.value) === null ? '–' : esc(sig3(num(t.value)!))}</td></tr>`);
  const failed = ts.filter((t) => t.passed === false).length;
  return `<section class="card" id="thresholds"><h2>Thresholds <span class="count">${ts.length - failed} held, ${failed} failed</span></h2>
<div class="table-wrap"><table><thead><tr><th></th><th>threshold</th><th>stage</th><th class="num">measured</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function breakpointCard(doc: SummaryDoc): string {
  const b = obj(doc.breakpoint);
  if (!b) return '';
  const held = num(b.highest_rate_held);
  const first = str(b.first_failed_stage);
  const firstRate = num(b.first_failed_rate);
  const top = num(b.top_rate);
  const saturated = str(b.saturated);
  const items = [
    metaItem('Highest rate that held every threshold', held === null ? '<span class="muted">none held</span>' : `${fmtRate(held)} req/s`, 'breakpoint-held'),
    metaItem('First step that failed', first ? `${esc(first)}${firstRate !== null ? ` (${fmtRate(firstRate)} req/s)` : ''}` : '<span class="muted">none failed</span>'),
  ];
  if (top !== null) items.push(metaItem('Top rate asked for', `${fmtRate(top)} req/s${b.limit_found === false ? ' (no limit found below it)' : ''}`));
  if (saturated) items.push(metaItem('Ran out first', saturated === 'generator' ? '<span class="pill warn">the load generator</span>' : '<span class="pill bad">the service</span>'));
  const text = str(b.text);
  return `<section class="card" id="breakpoint"><h2>Breakpoint</h2>${text ? `<p id="breakpoint-text"><strong>${esc(text)}</strong></p>` : ''}<dl class="meta">${items.join('')}</dl></section>`;
}

function errorClasses(s: Obj): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(counts(s.by_twirp_code))) if (k !== 'ok' && v > 0) parts.push(`twirp ${k} ${fmtInt(v)}`);
  for (const [k, v] of Object.entries(counts(s.by_error_code))) if (v > 0) parts.push(`socket ${k} ${fmtInt(v)}`);
  const timeouts = numAt(s, 'counts', 'timeouts');
  if (timeouts) parts.push(`timeout ${fmtInt(timeouts)}`);
  for (const [k, v] of Object.entries(counts(s.by_status))) if (!/^2/.test(k) && v > 0 && parts.length < 12) parts.push(`HTTP ${k} ${fmtInt(v)}`);
  return parts.length ? parts.map((p) => `<div class="mono">${esc(p)}</div>`).join('') : '<span class="muted">none</span>';
}

function rowsVsAcks(s: Obj): string {
  const acks = numAt(s, 'counts', 'ok');
  const rows = numAt(s, 'server', 'rows_written');
  const committed = numAt(s, 'server', 'extra', 'rows_committed');
  if (rows === null && committed === null) return `<span class="muted">${acks === null ? '–' : `${fmtInt(acks)} acks`}</span>`;
  const written = rows ?? committed!;
  const cls = acks !== null && written < acks ? 'delta-bad' : '';
  return `<span class="${cls}" data-rows="${written}" data-acks="${acks ?? ''}">${fmtInt(written)} / ${fmtInt(acks)}</span><div class="muted">${rows !== null ? 'rows in incoming' : 'rows committed (server)'} / acks</div>`;
}

function causes(s: Obj): string {
  const d = objs(s.diagnosis);
  const outage = obj(s.outage);
  const items = d.map((c) => {
    const sev = str(c.severity) ?? 'info';
    const cls = sev === 'error' ? 'bad' : sev === 'warn' ? 'warn' : 'info';
    return `<li><span class="pill ${cls}">${esc(sev)}</span> ${esc(str(c.text) ?? str(c.rule) ?? '')}</li>`;
  });
  if (outage) {
    items.push(`<li><span class="pill bad">outage</span> errors from ${esc(sig3(num(outage.started_at_s) ?? 0))} s to ${esc(num(outage.ended_at_s) === null ? 'the end' : `${sig3(num(outage.ended_at_s)!)} s`)}${num(outage.recovery_s) !== null ? `, recovered in ${esc(sig3(num(outage.recovery_s)!))} s` : ''}</li>`);
  }
  for (const dis of arr(at(s, 'server', 'disagreements'))) if (typeof dis === 'string') items.push(`<li><span class="pill warn">client/server</span> ${esc(dis)}</li>`);
  if (items.length) return `<ul class="causes">${items.join('')}</ul>`;
  return s.diagnosis === undefined ? '<span class="muted">no diagnosis in summary</span>' : '<span class="muted">none found</span>';
}

function stagesCard(doc: SummaryDoc): string {
  if (doc.stages.length === 0) return `<section class="card" id="stages"><h2>Stages</h2><div class="missing">The run has no stage results.</div></section>`;
  const rows = doc.stages.map((s, i) => {
    const target = numAt(s, 'rate', 'target');
    const achieved = numAt(s, 'rate', 'achieved');
    const sent = numAt(s, 'counts', 'sent');
    const errors = numAt(s, 'counts', 'errors');
    const model = str(s.model) ?? '?';
    const errRate = sent && errors !== null ? errors / sent : null;
    const short = target !== null && achieved !== null && achieved < target * 0.95;
    return `<tr data-stage="${i}"><td class="nowrap"><strong>${esc(str(s.name))}</strong><div class="muted">${esc(model)} · ${esc(fmtDuration(num(s.duration_ms)))}</div></td>
<td class="num" data-field="rate.target">${target === null ? `<span class="muted">${model === 'closed' ? 'closed' : '–'}</span>` : fmtRate(target)}</td>
<td class="num${short ? ' delta-bad' : ''}" data-field="rate.achieved">${fmtRate(achieved)}</td>
<td class="num" data-field="counts.sent">${fmtInt(sent)}</td>
<td class="num" data-field="counts.ok">${fmtInt(numAt(s, 'counts', 'ok'))}</td>
<td class="num${errors ? ' delta-bad' : ''}" data-field="counts.errors">${fmtInt(errors)}<div class="muted">${fmtPct(errRate)}</div></td>
<td class="num" data-field="counts.dropped">${fmtInt(numAt(s, 'counts', 'dropped'))}</td>
<td>${errorClasses(s)}</td>
<td class="num">${rowsVsAcks(s)}</td>
<td>${causes(s)}</td></tr>`;
  });
  return `<section class="card" id="stages"><h2>Stages <span class="count">${doc.stages.length}</span></h2><div class="table-wrap"><table id="stages-table">
<thead><tr><th>stage</th><th class="num">target req/s</th><th class="num">achieved req/s</th><th class="num">sent</th><th class="num">ok</th><th class="num">errors</th><th class="num">dropped</th><th>errors by class</th><th class="num">rows / acks</th><th>causes</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div></section>`;
}

function latencyCard(doc: SummaryDoc): string {
  if (doc.stages.length === 0) return '';
  const rows = doc.stages.flatMap((s, i) => {
    const out: string[] = [];
    const line = (label: string, field: string, note: string) => {
      const l = obj(s[field]);
      out.push(`<tr data-stage="${i}" data-kind="${field}"><td><strong>${esc(str(s.name))}</strong></td><td>${esc(label)}<div class="muted">${esc(note)}</div></td>${LATENCY_KEYS.map(([k]) => `<td class="num" data-field="${field}.${k}">${fmtMs(l ? num(l[k]) : null)}</td>`).join('')}<td class="num" data-field="${field}.mean">${fmtMs(l ? num(l.mean) : null)}</td></tr>`);
    };
    const open = str(s.model) === 'open';
    line(open ? 'scheduled' : 'latency', 'latency_ms', open ? 'from the intended start' : 'send to answer');
    if (s.service_time_ms !== undefined) line('service time', 'service_time_ms', 'from the actual send');
    return out;
  });
  return `<section class="card" id="latency"><h2>Latency (ms)</h2><div class="table-wrap"><table id="latency-table">
<thead><tr><th>stage</th><th>measured</th>${LATENCY_KEYS.map(([, l]) => `<th class="num">${l}</th>`).join('')}<th class="num">mean</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function serverCard(doc: SummaryDoc): string {
  const any = doc.stages.some((s) => s.server !== undefined || s.server_time !== undefined || s.peaks !== undefined);
  if (!any) return `<section class="card" id="server"><h2>Server side</h2><div class="missing">No server figures in this summary (the run did not read the target's /metrics).</div></section>`;
  const cell = (v: number | null, f: (x: number | null) => string = fmtInt) => `<td class="num">${f(v)}</td>`;
  const rows = doc.stages.map((s) => {
    const ex = obj(at(s, 'server', 'extra')) ?? {};
    const flushes = num(ex.flushes);
    const batched = num(ex.batched_rows);
    const rowsPerFlush = numAt(s, 'server_time', 'rows_per_flush', 'mean') ?? (flushes && batched !== null ? batched / flushes : null);
    const pool = numAt(s, 'peaks', 'pool', 'peak') ?? num(ex.db_connections_used_peak);
    const poolMax = numAt(s, 'peaks', 'pool', 'max') ?? num(ex.db_connections_max_peak);
    const buf = numAt(s, 'peaks', 'buffer', 'peak') ?? num(ex.buffer_depth_peak);
    const bufCap = numAt(s, 'peaks', 'buffer', 'capacity');
    return `<tr><td><strong>${esc(str(s.name))}</strong></td>${cell(numAt(s, 'server', 'requests'))}${cell(flushes)}${cell(rowsPerFlush, (v) => (v === null ? '–' : sig3(v)))}
${cell(numAt(s, 'server_time', 'flush_ms', 'p50'), fmtMs)}${cell(numAt(s, 'server_time', 'flush_ms', 'p99'), fmtMs)}${cell(numAt(s, 'server_time', 'acquire_wait_ms', 'p99'), fmtMs)}
<td class="num">${fmtInt(pool)}${poolMax ? ` / ${fmtInt(poolMax)}` : ''}</td><td class="num">${fmtInt(buf)}${bufCap ? ` / ${fmtInt(bufCap)}` : ''}</td>${cell(numAt(s, 'peaks', 'in_flight', 'peak'))}</tr>`;
  });
  return `<section class="card" id="server"><h2>Server side</h2><div class="table-wrap"><table>
<thead><tr><th>stage</th><th class="num">Push requests</th><th class="num">flushes</th><th class="num">rows / flush</th><th class="num">flush p50 ms</th><th class="num">flush p99 ms</th><th class="num">pool wait p99 ms</th><th class="num">pool peak</th><th class="num">buffer peak</th><th class="num">in flight peak</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div></section>`;
}

function generatorCard(doc: SummaryDoc): string {
  const withGen = doc.stages.filter((s) => obj(s.generator));
  if (withGen.length === 0) return '';
  const rows = withGen.map((s) => {
    const g = obj(s.generator)!;
    const saturated = g.saturated === true;
    const because = arr(g.saturated_because).filter((x): x is string => typeof x === 'string');
    const util = num(g.loop_utilization);
    return `<tr><td><strong>${esc(str(s.name))}</strong></td><td class="num">${fmtMs(numAt(g, 'event_loop_delay_ms', 'p99'))}</td><td class="num">${fmtMs(numAt(g, 'event_loop_delay_ms', 'max'))}</td>
<td class="num">${util === null ? '–' : fmtPct(util, 0)}</td><td class="num">${fmtMs(numAt(g, 'gc_pause_ms', 'total'))}</td><td class="num">${fmtMs(numAt(g, 'gc_pause_ms', 'max'))}</td><td class="num">${fmtMs(numAt(g, 'schedule_lag_ms', 'p99'))}</td><td class="num">${fmtMs(numAt(g, 'schedule_lag_ms', 'max'))}</td>
<td class="num">${fmtMs(num(g.latency_floor_ms))}</td><td>${saturated ? `<span class="pill bad">saturated</span>${because.map((x) => `<div class="muted">${esc(x)}</div>`).join('')}` : '<span class="pill ok">kept up</span>'}</td></tr>`;
  });
  return `<section class="card" id="generator"><h2>Load generator health</h2><p class="muted">The bench watching itself: a stage whose generator was saturated measured the bench's machine as much as the target. A p99 near the latency floor is the bench's own delay.</p><div class="table-wrap"><table>
<thead><tr><th>stage</th><th class="num">event loop p99 ms</th><th class="num">event loop max ms</th><th class="num">loop busy</th><th class="num">GC total ms</th><th class="num">GC max ms</th><th class="num">schedule lag p99 ms</th><th class="num">schedule lag max ms</th><th class="num">latency floor ms</th><th>generator</th></tr></thead>
<tbody>${rows.join('')}</tbody></table></div></section>`;
}

function chartsCard(time: ChartSpec[], noTimeline: boolean): string {
  if (noTimeline) return `<section class="card" id="charts"><h2>Over time</h2><div class="missing">This summary has no per-second timeline (stages[].timeline), so there is nothing to draw over time.</div></section>`;
  if (time.length === 0) return '';
  return `<section class="card" id="charts"><h2>Over time <span class="count">stages shaded</span></h2><div class="charts">${time.map((c) => chartCard(c)).join('')}</div></section>`;
}

function traceCell(r: Obj, kibana: string | null): string {
  const id = str(r.trace_id);
  if (!id) return '<span class="muted">–</span>';
  const sampled = r.sampled === true;
  const text = `<span class="mono">${esc(id)}</span>`;
  if (kibana && sampled) return `<a href="${esc(`${kibana.replace(/\/+$/, '')}/app/apm/link-to/trace/${encodeURIComponent(id)}`)}">${text}</a>`;
  return text;
}

const WORST_SHOWN = 5;

function worstCard(doc: SummaryDoc): string {
  const kibana = str(doc.kibana_url);
  const rows: string[] = [];
  const more: string[] = [];
  let any = false;
  for (const s of doc.stages) {
    const w = obj(s.worst);
    if (!w) continue;
    any = true;
    for (const [kind, list] of [['slowest', objs(w.slowest)], ['failed', objs(w.failed)]] as const) {
      if (list.length > WORST_SHOWN) more.push(`${list.length - WORST_SHOWN} more ${kind === 'failed' ? 'failures' : 'slow answers'} of ${str(s.name)}`);
      for (const r of list.slice(0, WORST_SHOWN)) {
        const status = num(r.status);
        rows.push(`<tr><td>${esc(str(s.name))}</td><td>${kind === 'failed' ? '<span class="pill bad">failed</span>' : '<span class="pill info">slow</span>'}</td><td class="num">${num(r.at_ms) === null ? '–' : `${sig3(num(r.at_ms)! / 1000)} s`}</td>
<td class="num">${fmtMs(num(r.latency_ms))}</td><td class="num">${status === 0 ? 'socket' : fmtInt(status)}</td><td class="mono">${esc(str(r.twirp_code) ?? str(r.error_code) ?? '')}</td><td>${traceCell(r, kibana)}</td><td>${r.sampled === true ? 'yes' : '<span class="muted">no</span>'}</td></tr>`);
      }
    }
  }
  if (!any) return `<section class="card" id="worst"><h2>Worst requests</h2><div class="missing">No worst requests in this summary (stages[].worst).</div></section>`;
  const note = `<p class="muted">The ${WORST_SHOWN} slowest answers and first ${WORST_SHOWN} failures of each stage${more.length ? ` (summary.json has ${more.join(', ')})` : ''}. ${kibana ? 'Sampled traces link to Kibana.' : 'No kibana_url in the summary: trace ids are shown without links.'}</p>`;
  return `<section class="card" id="worst"><h2>Worst requests</h2>${note}<div class="table-wrap"><table>
<thead><tr><th>stage</th><th></th><th class="num">at</th><th class="num">latency ms</th><th class="num">status</th><th>code</th><th>trace id</th><th>traced</th></tr></thead><tbody>${rows.join('') || '<tr><td colspan="8" class="muted">none recorded</td></tr>'}</tbody></table></div></section>`;
}

function apmAbCard(doc: SummaryDoc): string {
  const ab = obj(doc.apm_ab);
  if (!ab) return '';
  const ratio = (v: number | null) => (v === null ? '–' : `${v.toFixed(3)}×`);
  const rows = objs(ab.stages).map((s) => `<tr><td>${esc(str(s.name))}</td><td class="num">${fmtRate(num(s.achieved_rate_off))}</td><td class="num">${fmtRate(num(s.achieved_rate_on))}</td><td class="num">${ratio(num(s.achieved_rate_ratio))}</td>
<td class="num">${fmtMs(num(s.p99_ms_off))}</td><td class="num">${fmtMs(num(s.p99_ms_on))}</td><td class="num">${ratio(num(s.p99_ratio))}</td></tr>`);
  const o = obj(ab.overall);
  if (o) rows.push(`<tr><td><strong>overall</strong></td><td class="num">${fmtRate(num(o.achieved_rate_off))}</td><td class="num">${fmtRate(num(o.achieved_rate_on))}</td><td class="num"><strong>${ratio(num(o.achieved_rate_ratio))}</strong></td><td class="num"></td><td class="num"></td><td class="num"><strong>${ratio(num(o.p99_ratio))}</strong></td></tr>`);
  return `<section class="card" id="apm-ab"><h2>Elastic APM A/B</h2><p class="muted">${esc(str(ab.ratio_is) ?? 'on / off')}; APM server: ${esc(str(ab.apm_server) ?? '?')}</p><div class="table-wrap"><table>
<thead><tr><th>stage</th><th class="num">rate off</th><th class="num">rate on</th><th class="num">rate ratio</th><th class="num">p99 off ms</th><th class="num">p99 on ms</th><th class="num">p99 ratio</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function workersCard(doc: SummaryDoc): string {
  const ws = objs(doc.workers);
  if (ws.length === 0) return '';
  const rows = ws.map((w, i) => {
    const status = str(w.status) ?? '?';
    const problems = objs(w.problems).map((p) => str(p.message) ?? str(p.kind) ?? '').filter(Boolean);
    return `<tr><td class="num">${esc(num(w.index) ?? i)}</td><td class="mono">${esc(str(w.host) ?? str(w.remote) ?? '–')}</td><td><span class="pill ${status === 'ok' ? 'ok' : 'bad'}">${esc(status)}</span></td>
<td class="num">${fmtInt(num(w.sent))}</td><td class="num">${fmtInt(num(w.ok))}</td><td class="num">${fmtInt(num(w.errors))}</td><td class="num">${fmtRate(num(w.achieved_rate))}</td>
<td class="num">${fmtMs(num(w.clock_offset_ms))}</td><td class="num">${fmtMs(num(w.clock_rtt_ms))}</td><td class="num">${fmtMs(num(w.max_start_skew_ms))}</td><td>${problems.length ? problems.map((p) => `<div>${esc(p)}</div>`).join('') : '<span class="muted">none</span>'}</td></tr>`;
  });
  return `<section class="card" id="workers"><h2>Workers <span class="count">${ws.length}</span></h2><div class="table-wrap"><table>
<thead><tr><th class="num">#</th><th>host</th><th>status</th><th class="num">sent</th><th class="num">ok</th><th class="num">errors</th><th class="num">req/s</th><th class="num">clock offset ms</th><th class="num">clock rtt ms</th><th class="num">max start skew ms</th><th>problems</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}
