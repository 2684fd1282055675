// The generator saturated, provoked for real: the bench's own process stalls (its event loop held busy for 400 ms,
// as a starved or overloaded load generator would be) in the middle of an open-model stage against the real
// service in its own process. The arrivals due during the stall go out late, so latency from the schedule jumps
// with the lag making up most of it: the diagnosis blames the generator, not the service.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProfile } from '../src/run';
import { OutputSet } from '../src/outputs/index';
import { validateProfile } from '../src/profiles/validate';
import { startService, type ServiceProcess } from '../src/target/service-process';

let dir: string;
let svc: ServiceProcess;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pvlab-generator-'));
  svc = await startService({ logFile: join(dir, 'service.log') });
});
after(async () => {
  await svc?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('"the bench fell behind its own schedule (lag p99 X ms, max Y ms): the generator, not the service, was saturated"', async () => {
  const v = validateProfile({ name: 'stall', stages: [{ name: 'r100', duration: '3s', rate: 100 }] }, 'test');
  assert.ok('profile' in v);
  const profile = v.profile;
  const stall = setTimeout(() => {
    const until = performance.now() + 400;
    while (performance.now() < until) { /* the generator's process is busy: nothing else runs */ }
  }, 1200);
  const summary = await runProfile({ profile, target: svc.url, runId: 'g1', outputs: new OutputSet([]) });
  clearTimeout(stall);
  const st = summary.stages[0]!;
  assert.ok(st.generator?.saturated, JSON.stringify({ g: st.generator, svc: st.service_time_ms, lat: st.latency_ms }));
  assert.ok(st.generator!.schedule_lag_ms!.p99 >= 100, `lag p99 ${st.generator!.schedule_lag_ms!.p99}`);
  assert.ok(st.generator!.schedule_lag_ms!.p99 >= 0.5 * st.latency_ms.p99, 'the lag is most of the latency from the schedule');
  assert.ok(st.service_time_ms!.p50 < st.generator!.schedule_lag_ms!.p99, 'the service itself was not that slow');
  const d = st.diagnosis?.find((x) => x.rule === 'generator-saturated');
  assert.ok(d, JSON.stringify(st.diagnosis));
  assert.equal(d.severity, 'warn');
  assert.match(d.text, /^the bench fell behind its own schedule \(lag p99 \d+ ms, max \d+ ms\): the generator, not the service, was saturated/);
  process.stdout.write(`# diagnosis: ${st.diagnosis!.map((x) => x.text).join('\n# ')}\n`);
});
