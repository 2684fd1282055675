// --apm-ab end to end: two self-started services (APM off, APM on) with the built-in intake sink, one summary
// with both variants' stages and the on/off ratios.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApmSink } from '../src/target/apm-sink';
import { runCli } from './support/run-cli';

const dir = mkdtempSync(join(tmpdir(), 'bench-apmab-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the intake sink answers what the agent asks: server info, intake, central config', async () => {
  const sink = await startApmSink();
  try {
    const info = await fetch(`${sink.url}/`);
    assert.equal(info.status, 200);
    assert.match(((await info.json()) as { version: string }).version, /^\d+\.\d+\.\d+$/);
    const intake = await fetch(`${sink.url}/intake/v2/events`, { method: 'POST', body: '{"metadata":{}}\n' });
    assert.equal(intake.status, 202);
    await intake.body?.cancel();
    assert.equal(sink.stats.intakeRequests, 1);
    assert.equal(sink.stats.bytes, 16);
    const cfg = await fetch(`${sink.url}/config/v1/agents?service.name=x`);
    assert.equal(cfg.status, 200);
    assert.deepEqual(await cfg.json(), {});
  } finally {
    await sink.close();
  }
});

test('--apm-ab runs the profile on an APM-off and an APM-on service and reports on/off ratios', async () => {
  const profile = join(dir, 'ab.yaml');
  writeFileSync(profile, 'stages:\n  - { name: closed, duration: 1500ms, connections: 2 }\n  - { name: open, duration: 1s, rate: 30 }\n');
  const out = join(dir, 'run');
  const env: NodeJS.ProcessEnv = { ...process.env, MYSQL_URL: '' };
  delete env.ELASTIC_APM_SERVER_URL;
  const r = await runCli(['--profile', profile, '--apm-ab', '--out', out, '--quiet'], env);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(s.stages.map((x: { name: string }) => x.name), ['apm-off/closed', 'apm-off/open', 'apm-on/closed', 'apm-on/open']);
  const ab = s.apm_ab;
  assert.match(ab.apm_server, /^built-in sink/);
  assert.deepEqual(ab.stages.map((x: { name: string }) => x.name), ['closed', 'open']);
  for (const st of ab.stages) {
    assert.ok(st.achieved_rate_off > 0 && st.achieved_rate_on > 0);
    assert.equal(st.achieved_rate_ratio, Math.round((st.achieved_rate_on / st.achieved_rate_off) * 1000) / 1000);
    assert.equal(st.p99_ratio, Math.round((st.p99_ms_on / st.p99_ms_off) * 1000) / 1000);
  }
  assert.ok(existsSync(join(out, 'service-apm-off.log')) && existsSync(join(out, 'service-apm-on.log')));
  assert.match(r.stdout, /APM A\/B \(on \/ off\)/);
});
