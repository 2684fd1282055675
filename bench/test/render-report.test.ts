// report.html as a person opens it, in Debian's Chromium: a real bench run against the real service writes the
// report into its run folder; the page asks for nothing but its own file, logs no error, draws every chart it
// has data for, and its tables say what summary.json says. A screenshot and a PDF are kept for a person to look
// at in bench-results/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli, ROOT } from './support/run-cli';
import { chartPixels, launchBrowser, type Browser } from './support/browser';
import { parseSummary } from '../src/report/load-summary';
import { renderReport } from '../src/report/render-report';

const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
const ARTIFACTS = join(ROOT, 'bench-results', 'test-artifacts');
let browser: Browser;
let runDir: string;
let summary: Record<string, any>;
/** Never contacted: the report only links to it. */
const KIBANA = 'http://127.0.0.1:5601';

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = join(dir, 'report-profile.json');
  writeFileSync(profile, JSON.stringify({
    name: 'report-test',
    breakpoint: true,
    thresholds: ['error_rate < 50%', 'p99 < 1ms'],
    request: { timeout: '2s', invalidShare: 0.05, traceSampleRate: 0.5 },
    stages: [
      { name: 'ramp', duration: '3s', rate: 100, rampTo: 400 },
      { name: 'hold-500', duration: '3s', rate: 500, thresholds: ['achieved_rate >= 90% of target'] },
    ],
  }));
  runDir = join(dir, 'run');
  const r = await runCli(['--profile', profile, '--out', runDir, '--quiet', '--kibana', KIBANA], { ...process.env, MYSQL_URL: '' }, 180_000);
  // p99 < 1ms is meant to fail on this machine now and then; either verdict renders
  assert.ok(r.code === 0 || r.code === 99, `bench exited ${r.code}\n${r.stderr}`);
  summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The number a table cell shows ("94,549", "1.95", "0.04%", "closed" -> null). */
function shown(text: string): number | null {
  const m = /-?[\d,]*\.?\d+/.exec(text.replace(/\s+/g, ' '));
  return m ? Number(m[0].replace(/,/g, '')) : null;
}

function close(actual: number | null, expected: number, what: string): void {
  assert.notEqual(actual, null, `${what}: no number shown (expected ${expected})`);
  // three significant digits, or whole numbers
  const tol = Math.max(Math.abs(expected) * 0.005, 0.0006, Number.isInteger(expected) ? 0.5 : 0);
  assert.ok(Math.abs(actual! - expected) <= tol, `${what}: shows ${actual}, summary.json has ${expected}`);
}

function get(o: any, path: string): any {
  return path.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o);
}

test('every run folder has a report.html that shows the summary and makes no request', async () => {
  const file = join(runDir, 'report.html');
  assert.ok(existsSync(file), 'report.html in the run folder');
  assert.equal(summary.schema_version, 2);
  assert.match(summary.git_commit, /^[0-9a-f]{40}$/);
  for (const s of summary.stages) assert.match(s.latency_hdr, /^HISTFAAA/, `${s.name} carries its histogram`);

  const { page, requests, errors } = await browser.open(file);
  assert.deepEqual(requests, [pathToFileURL(file).href], 'the page requests nothing but itself');
  assert.deepEqual(errors, [], 'no console error');

  // the header and the run card
  assert.equal(await page.textContent('#verdict .word'), summary.passed ? 'PASSED' : 'FAILED');
  assert.equal((await page.textContent('#meta-run-id dd'))!.trim(), summary.run_id);
  assert.equal((await page.getAttribute('#meta-commit dd span', 'title')), summary.git_commit);
  assert.equal((await page.textContent('#meta-profile dd'))!.trim(), 'report-test');

  // thresholds: one row each, in order, with the measured value
  const thRows = await page.$$eval('#thresholds tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())));
  assert.equal(thRows.length, summary.thresholds.length);
  thRows.forEach((row, i) => {
    const t = summary.thresholds[i];
    assert.equal(row[0], t.passed ? 'ok' : 'FAIL');
    assert.equal(row[1], t.expr);
    assert.equal(row[2], t.stage ?? 'run');
    close(shown(row[3]!), t.value, `threshold ${t.expr}`);
  });

  // the stage and latency tables: every numeric cell against summary.json
  for (const table of ['#stages-table', '#latency-table']) {
    const cells = await page.$$eval(`${table} td[data-field]`, (tds) => tds.map((td) => ({
      stage: Number(td.closest('tr')!.getAttribute('data-stage')), field: td.getAttribute('data-field')!, text: (td.childNodes[0]?.textContent ?? '').trim(),
    })));
    assert.ok(cells.length >= summary.stages.length * 5, `${table} has its cells`);
    for (const c of cells) {
      const expected = get(summary.stages[c.stage], c.field);
      if (expected === null || expected === undefined) {
        assert.ok(c.stage >= 0 && /closed|–/.test(c.text), `${c.field}: ${c.text}`);
        continue;
      }
      close(shown(c.text), expected, `${summary.stages[c.stage].name} ${c.field}`);
    }
  }
  // the breakpoint (the profile asks for one) and the worst requests with their trace ids
  assert.ok(summary.breakpoint, 'the run reports a breakpoint');
  const held = summary.breakpoint.highest_rate_held;
  assert.match((await page.textContent('#breakpoint-held'))!, held === null ? /none held/ : new RegExp(`${Math.round(held).toLocaleString('en-US')} req/s`));
  if (summary.breakpoint.text !== undefined) assert.equal(await page.textContent('#breakpoint-text'), summary.breakpoint.text);
  assert.equal(summary.kibana_url, KIBANA);
  const traceIds = await page.$$eval('#worst td .mono', (els) => els.map((e) => e.textContent));
  const links = await page.$$eval('#worst td a', (els) => els.map((e) => e.getAttribute('href')));
  const shownWorst = summary.stages.flatMap((s: any) => [...s.worst.slowest.slice(0, 5), ...s.worst.failed.slice(0, 5)]);
  assert.ok(shownWorst.some((r: any) => r.sampled) && shownWorst.some((r: any) => !r.sampled), 'both traced and untraced requests among the worst');
  for (const r of shownWorst) {
    assert.ok(traceIds.includes(r.trace_id), `trace ${r.trace_id} is listed`);
    // only a traced request has a trace to open in Kibana's APM
    assert.equal(links.includes(`${KIBANA}/app/apm/link-to/trace/${r.trace_id}`), r.sampled, `link for ${r.trace_id} (sampled ${r.sampled})`);
  }
  // the bench's own health per stage, and its warm-up apart from every stage
  assert.ok(summary.stages.every((s: any) => s.generator), 'every stage has its generator figures');
  assert.equal(await page.$$eval('#generator tbody tr', (trs) => trs.length), summary.stages.length);
  for (const [i, s] of summary.stages.entries()) {
    const cells = await page.$$eval(`#generator tbody tr:nth-child(${i + 1}) td`, (tds) => tds.map((td) => td.textContent!.trim()));
    close(shown(cells[1]!), s.generator.event_loop_delay_ms.p99, `${s.name} event loop p99`);
    assert.match(cells[9]!, s.generator.saturated ? /^saturated/ : /^kept up/);
  }
  assert.ok(summary.warmup, 'a fresh process warms up');
  assert.match((await page.textContent('#meta-warmup dd'))!, new RegExp(`${summary.warmup.sent.toLocaleString('en-US')} sent`));
  const serviceRows = await page.$$('#latency-table tr[data-kind="service_time_ms"]');
  assert.equal(serviceRows.length, summary.stages.filter((s: any) => s.service_time_ms).length, 'service time for the open stage');

  // rows vs acks (the self-started service's committed rows against the client's 2xx answers)
  const rowsAcks = await page.$$eval('#stages-table [data-rows]', (els) => els.map((e) => [Number(e.getAttribute('data-rows')), Number(e.getAttribute('data-acks'))]));
  assert.deepEqual(rowsAcks, summary.stages.map((s: any) => [s.server.extra.rows_committed, s.counts.ok]));
  // errors by class: the deliberately invalid requests
  const classes = await page.textContent('#stages-table tbody tr[data-stage="0"] td:nth-child(8)');
  assert.match(classes!, new RegExp(`twirp invalid_argument ${summary.stages[0].by_twirp_code.invalid_argument.toLocaleString('en-US')}`));

  // every chart drawn, with its series' colours on the canvas
  const charts = await chartPixels(page);
  const data = JSON.parse((await page.textContent('#report-data'))!);
  assert.equal(charts.length, data.charts.length, 'a container for every chart');
  assert.ok(charts.some((c) => c.id === 'spectrum'), 'the percentile spectrum');
  for (const s of summary.stages) assert.ok(s.timeline?.length >= 2 && s.server_timeline?.length >= 1, `${s.name}: per-second timelines`);
  for (const id of ['rate', 'latency', 'errors-twirp', 'in-flight', 'server-requests', 'server-errors']) assert.ok(charts.some((c) => c.id === id), `chart ${id}`);
  for (const c of charts) {
    assert.equal(c.error, null, `chart ${c.id} failed: ${c.error}`);
    assert.ok(c.drawn, `chart ${c.id} drawn`);
    assert.ok(c.seriesPixels > 50, `chart ${c.id} has data on its canvas (${c.seriesPixels} pixels)`);
  }

  await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
  await page.emulateMedia({ media: 'print' });
  await page.pdf({ path: join(ARTIFACTS, 'report.pdf'), format: 'A4', printBackground: true });
  assert.ok(statSync(join(ARTIFACTS, 'report.pdf')).size > 10_000);
  assert.equal(readFileSync(join(ARTIFACTS, 'report.pdf')).subarray(0, 5).toString(), '%PDF-');
  await page.close();
});

test('a summary from an older bench renders what it has and says what is missing', async () => {
  const old = structuredClone(summary);
  delete old.schema_version;
  delete old.git_commit;
  for (const s of old.stages) { delete s.latency_hdr; delete s.service_time_hdr; delete s.timeline; delete s.server_timeline; }
  old.stages[0].latency_ms = 'garbage';
  old.stages[1].counts = null;
  const file = join(dir, 'old-report.html');
  writeFileSync(file, renderReport(parseSummary(JSON.stringify(old), 'old-summary.json')));
  const { page, requests, errors } = await browser.open(file);
  assert.deepEqual(requests, [pathToFileURL(file).href]);
  assert.deepEqual(errors, []);
  const gaps = (await page.textContent('#missing'))!;
  assert.match(gaps, /no schema_version: read as version 1/);
  assert.match(gaps, /no per-second timeline/);
  assert.match(gaps, /no latency histogram/);
  assert.match(gaps, /no git_commit/);
  assert.equal(await page.$$eval('[data-chart]', (e) => e.length), 0, 'nothing to draw');
  assert.equal((await page.textContent('#latency-table td[data-field="latency_ms.p99"]'))!.trim(), '–', 'a field of the wrong type is shown as missing');
  assert.equal((await page.textContent('#stages-table tr[data-stage="1"] td[data-field="counts.sent"]'))!.trim(), '–');
  await page.close();
});
