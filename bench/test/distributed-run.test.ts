// `--workers 3` end to end, as a user runs it: the CLI starts the real service on a throwaway MariaDB, three
// worker processes and a coordinator; the merged counts are exactly the workers' sums, the rows in `incoming`
// equal the acknowledged Pushes, every worker's clock offset and start skew are reported, a failed threshold
// exits 99 (with abortOnFail every worker stops), and a worker killed mid-run is named and the run exits 1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariaDb } from '../../service/test/support/mariadb';
import type { Counts, StageResult } from '../src/types';
import type { WorkerReport } from '../src/distributed/coordinator';
import { ArrivalSchedule } from '../src/executors/arrival-schedule';
import { ROOT, runCli } from './support/run-cli';

const dir = mkdtempSync(join(tmpdir(), 'bench-dist-'));
let db: MariaDb;

before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  passed: boolean;
  aborted: boolean;
  error?: string;
  stages: StageResult[];
  thresholds: { expr: string; stage: string | null; passed: boolean; value: number | null }[];
  workers: WorkerReport[];
  warnings: string[];
}

const COUNT_KEYS: (keyof Counts)[] = ['sent', 'completed', 'ok', 'errors', 'timeouts', 'dropped'];

function profileFile(name: string, lines: string[]): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

test('--workers 3: merged counts are the workers\' sums, rows equal acknowledged pushes, skew and offsets reported', async () => {
  const profile = profileFile('three', [
    'thresholds: ["disagreements == 0", "error_rate < 1%"]',
    'request: { properties: 10, sections: 50, ids: 100000, seed: 7, timeout: 10s }',
    'stages:',
    '  - { name: closed-5, duration: 2s, connections: 5 }',
    '  - { name: open-ramp, duration: 2s, rate: 60, rampTo: 150, maxInFlight: 50 }',
  ]);
  const out = join(dir, 'three');
  const r = await runCli(['--profile', profile, '--workers', '3', '--out', out, '--quiet', '--json'], { ...process.env, MYSQL_URL: db.url });
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  const s = JSON.parse(r.stdout) as Summary;
  assert.equal(s.passed, true);
  assert.equal(s.workers.length, 3);

  for (const [i, st] of s.stages.entries()) {
    // the merged stage is exactly the sum of what the workers sent
    for (const k of COUNT_KEYS) {
      assert.equal(st.counts[k], s.workers.reduce((a, w) => a + w.stages[i]!.counts[k], 0), `${st.name}.${k}`);
    }
    assert.ok(st.counts.ok > 0, st.name);
    const srv = st.server!;
    assert.deepEqual(srv.disagreements, [], `${st.name}: ${srv.disagreements.join('; ')}`);
    const unknown = st.counts.sent - st.counts.completed;
    const accepted = srv.by_twirp_code.ok ?? 0;
    assert.equal(srv.rows_written, srv.extra?.rows_committed, st.name);
    assert.ok(accepted >= st.counts.ok && accepted <= st.counts.ok + unknown, `${st.name}: accepted ${accepted}, ok ${st.counts.ok}`);
    assert.ok(srv.rows_written! >= accepted && srv.rows_written! <= accepted + unknown, `${st.name}: rows ${srv.rows_written}`);
  }
  // closed: 5 connections over 3 workers = 2, 2, 1
  assert.deepEqual(s.workers.map((w) => w.stages[0]!.share.connections), [2, 2, 1]);
  // open: the three stripes of the one global ramp are the whole schedule, and every arrival was answered
  const open = s.stages[1]!;
  const planned = new ArrivalSchedule(60, 150, 2000).dueBy(2000);
  assert.equal(open.counts.sent + open.counts.dropped, planned);
  assert.deepEqual(s.workers.map((w) => w.stages[1]!.counts.sent + w.stages[1]!.counts.dropped), [0, 1, 2].map((k) => Math.floor(planned / 3) + (k < planned % 3 ? 1 : 0)));
  assert.equal(open.counts.completed, open.counts.sent);
  assert.equal(open.server!.rows_written, open.counts.ok);
  assert.equal(open.rate.target, 105);

  for (const w of s.workers) {
    assert.equal(w.status, 'ok');
    assert.equal((w as { exit_code?: number }).exit_code, 0);
    assert.equal(typeof w.clock_offset_ms, 'number');
    assert.ok(w.clock_rtt_ms! >= 0);
    for (const ws of w.stages) assert.ok(Number.isFinite(ws.start_skew_ms), `worker ${w.index} ${ws.stage} skew ${ws.start_skew_ms}`);
    assert.ok(w.timeline.length >= 2, `worker ${w.index} has a rate timeline`);
    // each warmed up on its part of the first stage before it reported ready, outside every stage
    assert.ok(w.warmup && w.warmup.sent > 0 && w.warmup.model === 'closed', `worker ${w.index} warm-up ${JSON.stringify(w.warmup)}`);
  }
  // different workers drew different keys (seeded from (seed, k)): the table has no duplicate-heavy pattern
  const [[distinct]] = await db.sql('SELECT COUNT(DISTINCT property, property_section, property_id) FROM test.incoming') as [[string]];
  const [[rows]] = await db.sql('SELECT COUNT(*) FROM test.incoming') as [[string]];
  // the table holds the stages' rows and the workers' warm-ups' (sent before the start, outside every stage; a
  // warm-up request cut at its end may or may not have been written)
  const warm = Number(rows) - s.stages.reduce((a, st) => a + st.server!.rows_written!, 0);
  const warmOk = s.workers.reduce((a, w) => a + w.warmup!.ok, 0);
  const warmSent = s.workers.reduce((a, w) => a + w.warmup!.sent, 0);
  assert.ok(warm >= warmOk && warm <= warmSent, `${warm} warm-up rows, ${warmOk} ok of ${warmSent} sent`);
  assert.ok(Number(distinct) > 0.9 * Number(rows), `${distinct} distinct keys in ${rows} rows`);
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('worker-')).sort(), ['worker-0.log', 'worker-1.log', 'worker-2.log']);
});

test('a failed threshold exits 99; with abortOnFail every worker stops and no later stage runs', async () => {
  const profile = profileFile('abort', [
    'abortOnFail: true',
    'request: { properties: 5, seed: 3, timeout: 5s }',
    'stages:',
    // judged on the merged count, about once a second; the stage would send 12000 if nothing stopped it
    '  - { name: capped, duration: 20s, rate: 600, maxInFlight: 100, thresholds: ["sent < 300"] }',
    '  - { name: never, duration: 2s, connections: 2 }',
  ]);
  const out = join(dir, 'abort');
  const r = await runCli(['--profile', profile, '--workers', '3', '--warmup', '0', '--out', out, '--quiet', '--json'], { ...process.env, MYSQL_URL: db.url });
  assert.equal(r.code, 99, `${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  const s = JSON.parse(r.stdout) as Summary;
  assert.equal(s.aborted, true);
  assert.deepEqual(s.stages.map((st) => st.name), ['capped']);
  const t = s.thresholds.find((x) => x.expr === 'sent < 300')!;
  assert.equal(t.passed, false);
  assert.equal(t.value, s.stages[0]!.counts.sent);
  // every worker's part of the stage was cut short (each would send 4000 in the whole 20 s), and none of them
  // started the next stage
  assert.ok(s.stages[0]!.duration_ms < 20_000, `stage lasted ${s.stages[0]!.duration_ms} ms`);
  for (const w of s.workers) {
    assert.equal(w.status, 'ok');
    assert.equal(w.stages.length, 1);
    assert.ok(w.stages[0]!.counts.sent < 2000, `worker ${w.index} sent ${w.stages[0]!.counts.sent}`);
  }
});

test('a worker killed mid-run is named with when and what it had sent, and the run exits 1', async () => {
  const profile = profileFile('kill', [
    'request: { properties: 5, seed: 5, timeout: 5s }',
    'stages:',
    '  - { name: steady, duration: 8s, rate: 200, maxInFlight: 50 }',
    '  - { name: after, duration: 2s, rate: 50 }',
  ]);
  const out = join(dir, 'kill');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', '--profile', profile, '--workers', '3', '--warmup', '0', '--out', out, '--json'], {
    cwd: ROOT, env: { ...process.env, MYSQL_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killed: number | null = null;
  child.stdout.on('data', (c) => (stdout += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  child.stderr.on('data', (c) => {
    stderr += c;
    if (killed === null && stderr.includes('every worker is ready')) {
      killed = -1;
      // two seconds into the first stage, kill worker 1 the hard way (no goodbye on its connection)
      setTimeout(() => {
        const pid = workerPid(child.pid!, 1);
        assert.ok(pid, 'worker 1 is a child of the CLI');
        process.kill(pid, 'SIGKILL');
        killed = pid;
      }, 2_000);
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(guard);
  assert.equal(code, 1, stderr.slice(-3000));
  assert.ok(killed !== null && killed > 0);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  assert.match(s.error ?? '', /worker 1 .*lost in stage steady/);
  const w1 = s.workers[1]!;
  assert.equal(w1.status, 'lost');
  assert.equal(w1.problems[0]!.kind, 'lost');
  assert.equal(w1.problems[0]!.stage, 'steady');
  assert.ok(w1.problems[0]!.sent > 0 && w1.problems[0]!.intervals > 0, JSON.stringify(w1.problems[0]));
  assert.ok(!Number.isNaN(Date.parse(w1.problems[0]!.at)));
  assert.equal((w1 as { exit_signal?: string }).exit_signal, 'SIGKILL');
  // the others were stopped with the run, cleanly; the next stage never ran
  assert.deepEqual(s.stages.map((st) => st.name), ['steady']);
  for (const w of [s.workers[0]!, s.workers[2]!]) {
    assert.equal(w.status, 'ok');
    assert.equal((w as { exit_code?: number }).exit_code, 0);
  }
  assert.ok(s.warnings.some((x) => /worker 1 \(local-1\) lost/.test(x)), s.warnings.join('\n'));
  // what the killed worker had sent before it died is in the stage's totals
  assert.equal(s.stages[0]!.counts.sent, s.workers.reduce((a, w) => a + w.stages[0]!.counts.sent, 0));
  assert.equal(stdout.trim().startsWith('{'), true);
});

test('a worker frozen mid-stage is named as behind; its late intervals join the totals; --allow-worker-loss keeps exit 0', async () => {
  const profile = profileFile('freeze', [
    'request: { properties: 5, seed: 11, timeout: 10s }',
    'stages:',
    '  - { name: steady, duration: 14s, rate: 100, maxInFlight: 400 }',
  ]);
  const out = join(dir, 'freeze');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', '--profile', profile, '--workers', '2', '--allow-worker-loss', '--warmup', '0', '--out', out, '--json'], {
    cwd: ROOT, env: { ...process.env, MYSQL_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let frozen = false;
  child.stdout.resume();
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  child.stderr.on('data', (c) => {
    stderr += c;
    if (!frozen && stderr.includes('every worker is ready')) {
      frozen = true;
      // two seconds in, stop worker 1 for 7 s (past the 5 s it may lag, short of the three missed pings)
      setTimeout(() => {
        const pid = workerPid(child.pid!, 1)!;
        process.kill(pid, 'SIGSTOP');
        setTimeout(() => process.kill(pid, 'SIGCONT'), 7_000);
      }, 2_000);
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(guard);
  assert.equal(code, 0, stderr.slice(-3000));
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  const w1 = s.workers[1]!;
  assert.equal(w1.status, 'behind');
  assert.equal(w1.problems[0]!.kind, 'behind');
  assert.equal(w1.problems[0]!.stage, 'steady');
  assert.ok(w1.stages[0]!.late_intervals > 0, 'its seconds came after the others had gone out');
  assert.equal(s.workers[0]!.status, 'ok');
  assert.ok(s.warnings.some((x) => /worker 1 \(local-1\) behind/.test(x)), s.warnings.join('\n'));
  // the frozen worker caught up on its part of the schedule: every arrival of the stage is accounted for, once
  const st = s.stages[0]!;
  const detail = JSON.stringify({ counts: st.counts, server: st.server, workers: s.workers.map((w) => w.stages[0]), warnings: s.warnings });
  assert.equal(st.counts.sent + st.counts.dropped, 1400, detail);
  assert.equal(st.counts.sent, s.workers.reduce((a, w) => a + w.stages[0]!.counts.sent, 0), detail);
  // the catch-up burst starts up to 7 s late against a 10 s timeout: on a busy machine some of it may time out
  // at the client after the service committed it, so rows lie between the oks and the oks plus the unanswered
  const unknown = st.counts.sent - st.counts.completed;
  assert.ok(st.server!.rows_written! >= st.counts.ok && st.server!.rows_written! <= st.counts.ok + unknown, detail);
});

/** The pid of the CLI's worker child with BENCH_WORKER_INDEX=index (from /proc). */
function workerPid(parent: number, index: number): number | null {
  for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (env.includes(`BENCH_WORKER_INDEX=${index}`)) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}
