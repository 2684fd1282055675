// Workers on other hosts: each `--worker URL` runs in a network namespace this test makes (ip netns, a veth pair
// on a bridge, an address of its own), the coordinator (`--coordinator`) and the service run outside them, on
// the bridge's address. All traffic goes to addresses of those namespaces and that bridge. The coordinator
// assigns the indices as workers dial in; a worker that never comes is named and the run exits 1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceCommand } from '../src/target/service-process';
import { freePort } from '../../service/test/support/mariadb';
import type { StageResult } from '../src/types';
import type { WorkerReport } from '../src/distributed/coordinator';
import { ROOT } from './support/run-cli';

const tag = `bd${process.pid % 100000}`;
// 10.251.<x>.0/24, x from the pid so two test runs on one machine do not collide
const net = `10.251.${process.pid % 250}`;
const hostIp = `${net}.1`;
const WORKERS = 2;
const nsName = (k: number) => `${tag}w${k}`;
const nsIp = (k: number) => `${net}.${10 + k}`;
const dir = mkdtempSync(join(tmpdir(), 'bench-hosts-'));
let netnsProblem: string | null = null;
let service: ChildProcess | null = null;
let serviceUrl = '';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function teardown(): void {
  for (let k = 0; k < WORKERS + 1; k++) {
    try { ip('netns', 'del', nsName(k)); } catch { /* not made */ }
  }
  try { ip('link', 'del', `${tag}br`); } catch { /* not made */ }
}

before(async () => {
  try {
    ip('link', 'add', 'name', `${tag}br`, 'type', 'bridge');
    ip('addr', 'add', `${hostIp}/24`, 'dev', `${tag}br`);
    ip('link', 'set', `${tag}br`, 'up');
    for (let k = 0; k < WORKERS + 1; k++) {
      ip('netns', 'add', nsName(k));
      ip('link', 'add', `${tag}h${k}`, 'type', 'veth', 'peer', 'name', `${tag}n${k}`);
      ip('link', 'set', `${tag}h${k}`, 'master', `${tag}br`);
      ip('link', 'set', `${tag}h${k}`, 'up');
      ip('link', 'set', `${tag}n${k}`, 'netns', nsName(k));
      ip('-n', nsName(k), 'addr', 'add', `${nsIp(k)}/24`, 'dev', `${tag}n${k}`);
      ip('-n', nsName(k), 'link', 'set', `${tag}n${k}`, 'up');
      ip('-n', nsName(k), 'link', 'set', 'lo', 'up');
    }
  } catch (e) {
    netnsProblem = `network namespaces cannot be made here (${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}); needs root and ip netns`;
    teardown();
    return;
  }
  // the service, outside the namespaces, on the bridge's address (its embedded store: rows are the e2e test's)
  const port = await freePort();
  serviceUrl = `http://${hostIp}:${port}`;
  service = spawn(process.execPath, serviceCommand(), {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, HOST: hostIp, PORT: String(port), MYSQL_URL: '', ALLOWED_PROPERTIES: 'news', LOG_LEVEL: 'warn' },
  });
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${serviceUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the service did not get ready on the bridge address');
});

after(async () => {
  if (service && service.exitCode === null) {
    service.kill('SIGTERM');
    await new Promise((r) => { service!.once('exit', r); setTimeout(r, 15_000).unref(); });
  }
  teardown();
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  passed: boolean;
  error?: string;
  stages: StageResult[];
  workers: (WorkerReport & { remote: string | null })[];
  warnings: string[];
}

function spawnCli(args: string[], netns?: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const argv = [process.execPath, '--import', 'tsx', 'bench/src/cli.ts', ...args];
  const child = netns ? spawn('ip', ['netns', 'exec', netns, ...argv], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const guard = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => child.on('close', (code) => {
    clearTimeout(guard);
    res({ code, stdout, stderr });
  }));
  return { child, done };
}

test('workers in their own network namespaces, coordinator and service outside: one merged run', async (t) => {
  if (netnsProblem) return t.skip(netnsProblem);
  const profile = join(dir, 'hosts.yaml');
  writeFileSync(profile, [
    'thresholds: ["disagreements == 0", "error_rate < 1%"]',
    'request: { properties: [news], seed: 9, timeout: 5s }',
    'stages:',
    '  - { name: closed-3, duration: 2s, connections: 3 }',
    '  - { name: open-100, duration: 2s, rate: 100 }',
  ].join('\n') + '\n');
  const port = await freePort();
  const out = join(dir, 'hosts');
  const coordinator = spawnCli(['--profile', profile, '--coordinator', '--workers', String(WORKERS), '--listen', `${hostIp}:${port}`,
    '--target', serviceUrl, '--connect-timeout', '60s', '--out', out, '--quiet', '--json']);
  // no index given: the coordinator hands them out in the order the workers dial in
  const workers = Array.from({ length: WORKERS }, (_, k) => spawnCli(['--worker', `ws://${hostIp}:${port}`, '--connect-timeout', '60s'], nsName(k),
    { BENCH_WORKER_INDEX: '', JOB_COMPLETION_INDEX: '', BENCH_HOST: nsName(k) }));
  const [c, ...ws] = await Promise.all([coordinator.done, ...workers.map((w) => w.done)]);
  assert.equal(c!.code, 0, c!.stderr.slice(-3000));
  ws.forEach((w, k) => assert.equal(w.code, 0, `worker in ${nsName(k)}: ${w.stderr.slice(-2000)}`));
  const s = JSON.parse(c!.stdout) as Summary;
  assert.equal(s.passed, true);
  // each worker is the namespace it ran in, seen from its own address
  const seen = s.workers.map((w) => ({ host: w.host, ip: w.remote?.replace(/:\d+$/, '') })).sort((a, b) => a.host!.localeCompare(b.host!));
  assert.deepEqual(seen, Array.from({ length: WORKERS }, (_, k) => ({ host: nsName(k), ip: nsIp(k) })));
  for (const [i, st] of s.stages.entries()) {
    assert.equal(st.counts.sent, s.workers.reduce((a, w) => a + w.stages[i]!.counts.sent, 0), st.name);
    assert.ok(st.counts.ok > 0);
    assert.deepEqual(st.server!.disagreements, [], st.server!.disagreements.join('; '));
  }
  for (const w of s.workers) {
    assert.equal(w.status, 'ok');
    assert.ok(Number.isFinite(w.clock_offset_ms) && Number.isFinite(w.start_skew_ms));
  }
  assert.equal(s.stages[1]!.counts.sent + s.stages[1]!.counts.dropped, 200);
});

test('a worker that never connects is named and the run exits 1 after the connect timeout', async (t) => {
  if (netnsProblem) return t.skip(netnsProblem);
  const port = await freePort();
  const out = join(dir, 'missing');
  const coordinator = spawnCli(['--profile', 'smoke', '--coordinator', '--workers', '2', '--listen', `${hostIp}:${port}`,
    '--target', serviceUrl, '--connect-timeout', '4s', '--warmup', '0', '--out', out, '--quiet', '--set', 'request.properties=[news]']);
  const worker = spawnCli(['--worker', `ws://${hostIp}:${port}`, '--connect-timeout', '30s'], nsName(WORKERS), { BENCH_WORKER_INDEX: '0', BENCH_HOST: nsName(WORKERS) });
  const [c, w] = await Promise.all([coordinator.done, worker.done]);
  assert.equal(c.code, 1, c.stderr.slice(-2000));
  // the worker that did come is told the run is over (it is not left waiting)
  assert.equal(w.code, 1, w.stderr.slice(-2000));
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  assert.match(s.error ?? '', /1 of 2 workers not ready .*worker 1: never connected/);
  assert.equal(s.stages.length, 0);
  assert.equal(s.workers[1]!.status, 'never-connected');
  assert.equal(s.workers[1]!.problems[0]!.kind, 'not-ready');
  assert.equal(s.workers[0]!.host, nsName(WORKERS));
});
