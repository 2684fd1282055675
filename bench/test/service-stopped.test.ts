// The service stopping mid-run, provoked for real by killing it:
// - with --target, the run goes on: the stage where it died says when answers stopped and with which socket
//   error, and the next stage's latency and rate thresholds fail as "no answers" (not "measured 0");
// - when the bench started the service itself, its death is reported at once, the run ends there, with exit 1
//   and the reason.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../src/target/service-process';
import { ROOT } from './support/run-cli';
import type { RunSummary } from '../src/run';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Runs the CLI; `onStderr` sees its stderr as it comes. */
async function bench(args: string[], onStderr: (text: string) => void): Promise<{ code: number | null; stdout: string; stderr: string; summary: RunSummary; ms: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pvlab-stopped-'));
  dirs.push(dir);
  const file = join(dir, 'profile.json');
  const profile = args.shift()!;
  await writeFile(file, profile);
  const env = { ...process.env };
  delete env.MYSQL_URL;
  // no warm-up: the kill is timed from the start of the first stage
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', '--profile', file, '--out', join(dir, 'out'), '--warmup', '0', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => {
    stderr += c;
    onStderr(stderr);
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const started = Date.now();
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(killer);
  const summary = JSON.parse(await readFile(join(dir, 'out', 'summary.json'), 'utf8')) as RunSummary;
  return { code, stdout, stderr, summary, ms: Date.now() - started };
}

test('--target: "the service stopped answering at X s (ECONNREFUSED)"; the next stage fails its thresholds as "no answers"', async () => {
  const logDir = await mkdtemp(join(tmpdir(), 'pvlab-stopped-svc-'));
  dirs.push(logDir);
  const svc = await startService({ logFile: join(logDir, 'service.log') });
  const profile = JSON.stringify({
    name: 'killed', stages: [
      { name: 'alive-then-dead', duration: '5s', rate: 50 },
      { name: 'dead', duration: '2s', rate: 50, thresholds: ['p99 < 100ms', 'error_rate < 1%', 'achieved_rate >= 90% of target', 'errors >= 1'] },
    ],
  });
  let killedAt = 0;
  const r = await bench([profile, '--target', svc.url], (text) => {
    if (killedAt === 0 && text.includes('"msg":"bench run starting"')) {
      killedAt = -1;
      setTimeout(() => {
        killedAt = Date.now();
        process.kill(svc.pid, 'SIGKILL');
      }, 2000);
    }
  });
  await svc.stop();
  assert.equal(r.code, 99, r.stderr.slice(-2000));
  const [first, second] = r.summary.stages;
  const d = first!.diagnosis?.find((x) => x.rule === 'service-stopped');
  assert.ok(d, JSON.stringify(first!.diagnosis));
  const m = /^the service stopped answering at ([\d.]+) s \(([A-Z_, ]+)\)$/.exec(d.text);
  assert.ok(m, d.text);
  assert.ok(m[2]!.includes('ECONNREFUSED') || m[2]!.includes('ECONNRESET'), m[2]);
  const at = d.evidence.stopped_at_s as number;
  assert.equal(Number(m[1]), Math.round(at * 100) / 100);
  assert.ok(at > 0.5 && at < 5, `stopped at ${at} s`);
  assert.ok(first!.outage && first!.outage.started_at_s <= at && first!.outage.ended_at_s === null, JSON.stringify(first!.outage));
  // the next stage: no answers at all
  assert.equal(second!.counts.completed, 0);
  const verdicts = r.summary.thresholds.filter((t) => t.stage === 'dead');
  assert.deepEqual(verdicts.map((t) => `${t.expr}|${t.passed}|${t.note ?? t.value}`), [
    'p99 < 100ms|false|no answers',
    'error_rate < 1%|false|no answers',
    'achieved_rate >= 90% of target|false|no answers',
    `errors >= 1|true|${second!.counts.errors}`,
  ]);
  assert.match(r.stdout, /FAIL p99 < 100ms {2}\(no answers\)/);
  assert.match(second!.diagnosis!.find((x) => x.rule === 'service-stopped')!.text, /^the service stopped answering at 0(\.\d+)? s/);
  process.stdout.write(`# printed: ${r.stdout.split('\n').filter((l) => /Stage|CAUSE|Outage|FAIL|Failed/.test(l)).join('\n# ')}\n`);
});

test('self-started: its death is reported at once and ends the run with exit 1 and the reason', async () => {
  const profile = JSON.stringify({ name: 'self-killed', stages: [{ name: 'long', duration: '30s', rate: 50 }, { name: 'never', duration: '30s', rate: 50 }] });
  let pid = 0;
  const r = await bench([profile], (text) => {
    const m = /"pid":(\d+)[^\n]*"msg":"service started"/.exec(text);
    if (pid === 0 && m) {
      pid = Number(m[1]);
      setTimeout(() => process.kill(pid, 'SIGKILL'), 2000);
    }
  });
  assert.ok(pid > 0, 'the service was started and killed');
  assert.equal(r.code, 1, r.stderr.slice(-2000));
  assert.match(r.summary.error ?? '', /^the service the bench started exited \(signal SIGKILL\) during stage long, [\d.]+ s in; see service\.log$/);
  assert.equal(r.summary.stages.length, 1, 'no stage after it');
  assert.ok(r.summary.stages[0]!.duration_ms < 30_000, 'the stage ended when the service died, not at its planned end');
  // reported as it happened: the warning comes before the stage's table is written
  const warned = r.stderr.indexOf('the service the bench started exited');
  assert.ok(warned >= 0);
  assert.match(r.stdout, /Run failed: the service the bench started exited \(signal SIGKILL\)/);
  const d = r.summary.stages[0]!.diagnosis?.find((x) => x.rule === 'service-stopped');
  assert.ok(d);
  assert.match(d.text, /the service the bench started exited at [\d.]+ s \(signal SIGKILL\)$/);
});
