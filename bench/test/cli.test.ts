// The CLI as a user runs it (a child process): exit codes 0 / 99 / 2 / 1, every usage problem at once with
// nothing run, --json on stdout, and the shape of summary.json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startTestServer, type TestServer } from './support/test-server';
import { parseRunArgs as parseArgs } from '../src/commands/run';
import { runCli, type CliRun } from './support/run-cli';
import { freePort } from '../src/target/service-process';
import { commandNames, loadCommand, main } from '../src/cli';
import type { Io } from '../src/command';

const ROOT = resolve(__dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'bench-cli-'));
const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

type Ran = CliRun;

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return runCli(args, { ...process.env, MYSQL_URL: '', ...env }, 120_000);
}

function writeProfile(name: string, doc: unknown): string {
  const p = join(dir, `${name}.json`);
  writeFileSync(p, JSON.stringify(doc));
  return p;
}

const TWO_STAGES = {
  thresholds: ['error_rate < 1%'],
  request: { timeout: '2s' },
  stages: [
    { name: 'closed', duration: '500ms', connections: 2 },
    { name: 'open', duration: '500ms', rate: 40, thresholds: ['achieved_rate >= 50% of target'] },
  ],
};

test('parseArgs collects every problem and reads every flag', () => {
  const ok = parseArgs(['--profile', 'load', '--target=http://127.0.0.1:9/', '--duration', '5s', '--rate', '50', '--set', 'a=1',
    '--set', 'b=2', '--json', '--quiet', '--seed', '7', '--timeout', '1s', '--max-in-flight', '9', '--invalid-share', '0.1',
    '--content-type', 'protobuf', '--out', 'x', '--prometheus-rw', 'http://127.0.0.1:9090/api/v1/write', '--grafana', 'http://127.0.0.1:3000']);
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.args.profile, 'load');
  assert.equal(ok.args.target, 'http://127.0.0.1:9');
  assert.deepEqual(ok.args.overrides, {
    duration: '5s', rate: 50, set: ['a=1', 'b=2'], seed: 7, timeout: '1s', maxInFlight: 9, invalidShare: 0.1, contentType: 'protobuf',
  });
  assert.equal(ok.args.json && ok.args.quiet, true);
  const bad = parseArgs(['--bogus', 'x', '--duration', '5', '--connections', '0', '--rate', '-1', '--target', 'ftp://x',
    '--apm-ab', '--service-env', 'NOEQUALS', '--json=yes', 'stray', '--timeout']);
  const expect = [
    /unknown flag --bogus/, /unexpected argument "x"/, /--duration must be a duration/, /--connections must be a whole number/,
    /--rate must be a number > 0/, /--target must be an http\(s\) URL/, /--service-env must be KEY=VALUE/, /--json takes no value/,
    /unexpected argument "stray"/, /--timeout needs a value/,
  ];
  for (const re of expect) assert.ok(bad.errors.some((e) => re.test(e)), `${re}\n${bad.errors.join('\n')}`);
  assert.equal(bad.errors.length, expect.length, bad.errors.join('\n'));
  assert.ok(parseArgs(['--connections', '2', '--rate', '3']).errors.some((e) => /cannot both be given/.test(e)));
  assert.ok(parseArgs(['--target', 'http://127.0.0.1:1', '--apm-ab']).errors.some((e) => /--apm-ab .* cannot be used with --target/.test(e)));
  assert.equal(parseArgs([]).args.profile, 'smoke');
  // a warm-up by default; 0 turns it off; a bad one is a usage error
  assert.equal(parseArgs([]).args.warmupMs, 3000);
  assert.equal(parseArgs(['--warmup', '0']).args.warmupMs, 0);
  assert.equal(parseArgs(['--warmup', '500ms']).args.warmupMs, 500);
  assert.ok(parseArgs(['--warmup', '2m']).errors.some((e) => /--warmup must be from 0 to 60s/.test(e)));
  assert.ok(parseArgs(['--warmup', 'soon']).errors.some((e) => /--warmup/.test(e)));
});

test('calibrate: bad flags are every one a usage error, exit 2, nothing run', async () => {
  const c = captured();
  const code = await main(['calibrate', '--duration', '0.1s', '--probes', '99', '--connections', 'x', '--p99', 'fast'], c.io);
  assert.equal(code, 2);
  const text = c.err.join('');
  for (const re of [/--duration must be from 1000ms/, /--probes must be a whole number from 0 to 20/, /--connections must be a whole number/, /--p99/]) {
    assert.match(text, re);
  }
});

function captured(): { io: Io; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), stderrIsTTY: false, env: {}, cwd: dir } };
}

test('commands: one file each in bench/src/commands/, found by name; run is the default; an unknown one is exit 2', async () => {
  const names = commandNames();
  assert.ok(names.includes('run'), names.join(', '));
  for (const n of names) {
    const c = loadCommand(n);
    assert.equal(c.name, n);
    assert.ok(c.summary.length > 0 && c.help().length > 0, n);
  }
  const unknown = captured();
  assert.equal(await main(['bogus', '--profile', 'smoke'], unknown.io), 2);
  assert.match(unknown.err.join(''), /^bench: 1 problem\(s\), nothing was run:\n {2}- unknown command "bogus" \(commands: .*run.*\)/);
  // `run` named or not: the same command, the same usage errors
  for (const argv of [['--rate', '0'], ['run', '--rate', '0']]) {
    const c = captured();
    assert.equal(await main(argv, c.io), 2);
    assert.match(c.err.join(''), /--rate must be a number > 0/);
  }
  const help = captured();
  assert.equal(await main(['--help'], help.io), 0);
  assert.match(help.out.join(''), /Usage: npm run bench -- \[run\][\s\S]*\nCommands .*:\n( {2}\S.*\n)* {2}run +run a profile/);
  const runHelp = captured();
  assert.equal(await main(['run', '-h'], runHelp.io), 0);
  assert.equal(runHelp.out.join(''), loadCommand('run').help());
});

test('--help lists every flag and exits 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const flag of ['--profile', '--target', '--duration', '--connections', '--rate', '--out', '--json', '--quiet', '--seed',
    '--timeout', '--apm-ab', '--prometheus-rw', '--grafana', '--service-env', '--set']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
  assert.match(r.stdout, /Exit codes: 0 .* 99 .* 2 .* 1/);
});

test('bad usage: every problem listed, exit 2, nothing run', async () => {
  const out = join(dir, 'never');
  const prof = writeProfile('broken', { stages: [{ duration: 'soon', rate: 0 }, { duration: '1s' }], thresholds: ['p98 < 1ms'] });
  const r = await cli(['--profile', prof, '--out', out, '--bogus', '--timeout', 'x']);
  assert.equal(r.code, 2, r.stderr);
  for (const re of [/unknown flag --bogus/, /--timeout must be a duration/, /stages\[0\]\.duration: must be a duration/,
    /stages\[0\]\.rate: must be > 0/, /stages\[1\]: needs connections/, /thresholds\[0\]: .*unknown metric "p98"/]) {
    assert.match(r.stderr, re);
  }
  assert.match(r.stderr, /nothing was run/);
  assert.equal(existsSync(out), false, 'no run folder for a run that never started');
  const missing = await cli(['--profile', 'no-such-profile']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no profile named "no-such-profile"/);
});

test('all thresholds held: exit 0, summary.json has the documented shape, --json prints it', async () => {
  const srv = await startTestServer({ latencyMs: 1 });
  servers.push(srv);
  const out = join(dir, 'pass');
  // Both extra outputs point at a closed port: they fail on their own, the run does not.
  const closed = await freePort();
  const r = await cli(['--profile', writeProfile('pass', TWO_STAGES), '--target', srv.url, '--out', out, '--json', '--no-scrape',
    '--prometheus-rw', `http://127.0.0.1:${closed}/api/v1/write`, '--grafana', `http://127.0.0.1:${closed}`]);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(printed, s);
  assert.match(r.stderr, /Stage 1\/2 closed/, 'the table goes to stderr when stdout carries JSON');
  for (const k of ['run_id', 'profile', 'target', 'passed', 'aborted', 'thresholds', 'stages', 'started_at', 'ended_at']) assert.ok(k in s, k);
  assert.equal(s.profile, 'pass');
  assert.equal(s.target, srv.url);
  assert.equal(s.passed, true);
  // the outputs that failed are in summary.json: it is written after every other output has stopped
  assert.ok(s.warnings.some((w: string) => /^output prometheus: \d+ of \d+ batches .*not delivered.*ECONNREFUSED/.test(w)), s.warnings.join('\n'));
  assert.ok(s.warnings.some((w: string) => /^output grafana: \d+ of \d+ annotations were not posted.*ECONNREFUSED/.test(w)), s.warnings.join('\n'));
  for (const t of s.thresholds) assert.deepEqual(Object.keys(t).sort(), ['expr', 'passed', 'stage', 'value']);
  assert.equal(s.stages.length, 2);
  for (const st of s.stages) {
    for (const k of ['name', 'model', 'counts', 'rate', 'latency_ms', 'by_status', 'by_twirp_code', 'by_error_code']) assert.ok(k in st, k);
    assert.deepEqual(Object.keys(st.counts).sort(), ['completed', 'dropped', 'errors', 'ok', 'sent', 'timeouts']);
    assert.deepEqual(Object.keys(st.rate).sort(), ['achieved', 'target']);
    assert.deepEqual(Object.keys(st.latency_ms).sort(), ['max', 'mean', 'p50', 'p90', 'p99', 'p999']);
    assert.ok(st.counts.ok > 0);
  }
  assert.deepEqual(s.stages.map((x: { model: string }) => x.model), ['closed', 'open']);
  assert.equal(s.stages[0].rate.target, null);
  assert.equal(s.stages[1].rate.target, 40);
  // a warm-up by default (3 s of the first stage's load), reported apart and in no stage's counts
  assert.equal(s.warmup.model, 'closed');
  assert.equal(s.warmup.connections, 2);
  assert.ok(s.warmup.sent > 0 && s.warmup.duration_ms >= 2990, JSON.stringify(s.warmup));
  assert.match(r.stderr, /Warm-up \(not part of any stage\): [\d.]+s at 2 connections/);
  const sent = s.stages.reduce((a: number, x: { counts: { sent: number } }) => a + x.counts.sent, 0) + s.warmup.sent;
  assert.ok(srv.counts.requests <= sent && srv.counts.requests >= sent - 6, `${srv.counts.requests} vs ${sent}`);
});

test('a threshold failed: exit 99, and the failing check is in the summary', async () => {
  const srv = await startTestServer({ errors: [{ code: 'resource_exhausted', every: 3 }] });
  servers.push(srv);
  const out = join(dir, 'fail');
  const r = await cli(['--profile', writeProfile('fail', TWO_STAGES), '--target', srv.url, '--out', out, '--quiet']);
  assert.equal(r.code, 99, r.stderr);
  assert.match(r.stdout, /FAILED: \d+ of \d+ threshold checks failed/);
  assert.match(r.stdout, /FAIL error_rate < 1%/);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(s.passed, false);
  assert.ok(s.stages.every((st: { by_twirp_code: Record<string, number> }) => st.by_twirp_code.resource_exhausted > 0));
  assert.ok(s.thresholds.some((t: { expr: string; passed: boolean }) => t.expr === 'error_rate < 1%' && !t.passed));
});

test('SIGINT ends the run early: the summary is still written, marked interrupted, exit 1', async () => {
  const srv = await startTestServer({ latencyMs: 1 });
  servers.push(srv);
  const out = join(dir, 'interrupted');
  const prof = writeProfile('long', { stages: [{ name: 'long', duration: '5m', connections: 2 }, { name: 'next', duration: '5m', rate: 10 }] });
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', '--profile', prof, '--target', srv.url, '--out', out, '--no-scrape', '--warmup', '0'], {
    cwd: ROOT, env: { ...process.env, MYSQL_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  // interrupt once the first stage is under way (the server has seen requests), bounded by the killer above
  for (let i = 0; i < 600 && srv.counts.requests < 50; i++) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  clearTimeout(killer);
  assert.equal(code, 1);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(s.interrupted, true);
  assert.equal(s.aborted, true);
  assert.deepEqual(s.stages.map((x: { name: string }) => x.name), ['long']);
  assert.ok(s.stages[0].counts.ok > 0);
  assert.match(stdout, /NOT PASSED: run aborted/);
});

test('the self-started service fails to start: exit 1 with its log quoted', async () => {
  const out = join(dir, 'nostart');
  const r = await cli(['--profile', writeProfile('nostart', TWO_STAGES), '--out', out, '--quiet', '--service-env', 'PORT=not-a-port']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the service exited .* before it was ready/);
  assert.ok(existsSync(join(out, 'service.log')));
});
