// `bench report` and `bench compare` as a user runs them (the CLI as a child): what they write, and that bad
// usage or a file that is not a summary is exit 2 with nothing written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/run-cli';
import { SCHEMA_VERSION } from '../src/types';

const dir = mkdtempSync(join(tmpdir(), 'bench-report-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { ...process.env, MYSQL_URL: '', INIT_CWD: dir }, 60_000);

function summaryFile(name: string, doc: Record<string, unknown>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'summary.json'), JSON.stringify(doc));
  return d;
}

const doc = {
  schema_version: SCHEMA_VERSION, run_id: 'run-a', profile: 'p', target: 'http://127.0.0.1:1', passed: true, aborted: false, thresholds: [],
  stages: [{ name: 'hold', model: 'open', duration_ms: 1000, counts: { sent: 10, completed: 10, ok: 10, errors: 0, timeouts: 0, dropped: 0 }, rate: { target: 10, achieved: 10 }, latency_ms: { p50: 1, p90: 1, p99: 2, p999: 2, max: 2, mean: 1 } }],
};

test('report writes report.html beside the summary, or to --out (relative to where the command was typed)', async () => {
  const run = summaryFile('run-a', doc);
  const r = await cli(['report', join(run, 'summary.json')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), join(run, 'report.html'));
  assert.match(readFileSync(join(run, 'report.html'), 'utf8'), /<title>Stress run · p · run-a<\/title>/);
  const r2 = await cli(['report', 'run-a', '--out', 'elsewhere.html']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.ok(existsSync(join(dir, 'elsewhere.html')));
});

test('report: a summary it cannot read is exit 2 and nothing is written', async () => {
  const newer = summaryFile('newer', { ...doc, schema_version: SCHEMA_VERSION + 1 });
  const r = await cli(['report', newer]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`schema_version ${SCHEMA_VERSION + 1} is newer than this bench reads.*SUMMARY_SCHEMA_UNSUPPORTED`));
  assert.equal(existsSync(join(newer, 'report.html')), false);
  const missing = await cli(['report', join(dir, 'nowhere', 'summary.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot be read \(ENOENT\).*SUMMARY_UNREADABLE/);
  const extra = await cli(['report', 'a.json', 'b.json', '--bogus']);
  assert.equal(extra.code, 2);
  // every problem at once: the stray second file and the unknown flag
  assert.match(extra.stderr, /unknown flag --bogus/);
  assert.match(extra.stderr, /report takes one summary.json \(got 2\)/);
});

test('compare: every usage problem at once, exit 2, nothing written', async () => {
  summaryFile('run-b', { ...doc, run_id: 'run-b' });
  const html = join(dir, 'cmp.html');
  const r = await cli(['compare', 'run-a', join(dir, 'nowhere'), '--html', html, '--fail-on', 'p99 > 10', '--fail-on', 'latency > +1%', '--fail-on', 'error_rate > +1ms', '--min-effect', 'x']);
  assert.equal(r.code, 2);
  for (const re of [/"p99 > 10" is not a --fail-on expression/, /unknown metric latency/, /error_rate takes pp or %, not ms/, /--min-effect must be a percentage/, /nowhere\/summary.json: cannot be read/]) {
    assert.match(r.stderr, re);
  }
  assert.equal(existsSync(html), false);
  const one = await cli(['compare', 'run-a']);
  assert.equal(one.code, 2);
  assert.match(one.stderr, /compare takes two summaries/);
  const stage = await cli(['compare', 'run-a', 'run-b', '--fail-on', 'warm:p99 > +10%']);
  assert.equal(stage.code, 2);
  assert.match(stage.stderr, /the base run has no stage warm/);
});

test('compare without timelines judges on the stage figures and says it cannot tell noise', async () => {
  summaryFile('run-c', { ...doc, run_id: 'run-c', stages: [{ ...doc.stages[0], latency_ms: { ...doc.stages[0]!.latency_ms, p99: 4 } }] });
  const r = await cli(['compare', 'run-a', 'run-c', '--fail-on', 'p99 > +50%', '--html', 'cmp.html']);
  assert.equal(r.code, 99, r.stdout + r.stderr);
  assert.match(r.stdout, /p99\s+2 ms\s+4 ms\s+\+100%\s+–\s+–\s+changed \*/);
  assert.match(r.stdout, /\* no per-second timeline \(stages\[\]\.timeline\) in either run/);
  assert.match(r.stdout, /FAIL --fail-on 'p99 > \+50%' hold: \+100% \(crossed\) \[point \(no per-second data\)\]/);
  assert.ok(existsSync(join(dir, 'cmp.html')));
});
