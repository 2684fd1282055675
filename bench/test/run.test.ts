// The run: stages in order through the real executors against the test server, ramps, thresholds per stage and
// for the run, abortOnFail, breakpoint reporting, interruption, and outputs that misbehave.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runInfo, runProfile, type RunSummary } from '../src/run';
import { isGeneratorSaturated } from '../src/diagnosis/generator-saturated';
import { prometheusRemoteWriteOutput } from '../src/outputs/prometheus-remote-write';
import { freePort } from '../src/target/service-process';
import { MemorySampler } from '../src/metrics/memory-sampler';
import { OutputSet } from '../src/outputs/index';
import { validateProfile } from '../src/profiles/validate';
import { startTestServer, type TestServer } from './support/test-server';
import type { BenchEvent, Output, Profile } from '../src/types';

const servers: TestServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(opts);
  servers.push(s);
  return s;
}

function profile(doc: Record<string, unknown>): Profile {
  const r = validateProfile({ request: { timeout: '2s' }, ...doc }, 'test');
  assert.ok('profile' in r, 'errors' in r ? r.errors.join('\n') : '');
  return r.profile;
}

function recorder(): { output: Output; events: BenchEvent[] } {
  const events: BenchEvent[] = [];
  return {
    events,
    output: { name: 'rec', start: async () => {}, add: (e) => void events.push(e), stop: async () => {} },
  };
}

test('stages run in order with ramps, events bracket each stage, thresholds are judged per stage and run', async () => {
  const srv = await server({ latencyMs: 2 });
  const p = profile({
    thresholds: ['error_rate < 1%'],
    stages: [
      { name: 'closed-fixed', duration: '600ms', connections: 2 },
      { name: 'closed-ramp', duration: '1s', connections: 1, rampTo: 4 },
      { name: 'open-ramp', duration: '1s', rate: 100, rampTo: 200, thresholds: ['sent >= 1'] },
    ],
  });
  const rec = recorder();
  const outputs = new OutputSet([rec.output]);
  await outputs.start(runInfo(p, srv.url, 'r1'));
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r1', outputs });
  await outputs.stop(summary);

  assert.deepEqual(summary.stages.map((s) => s.name), ['closed-fixed', 'closed-ramp', 'open-ramp']);
  assert.deepEqual(summary.stages.map((s) => s.model), ['closed', 'closed', 'open']);
  // event order: start, ticks and intervals..., end for each stage in turn
  const seq = rec.events.filter((e) => e.type !== 'tick' && e.type !== 'interval').map((e) => `${e.type}:${e.stage.name}`);
  // every stage's intervals arrive between its start and its end, and carry its index
  for (const [i, name] of ['closed-fixed', 'closed-ramp', 'open-ramp'].entries()) {
    const evs = rec.events.filter((e) => e.stage.name === name);
    const ivs = evs.filter((e) => e.type === 'interval');
    assert.ok(ivs.length >= 1 && evs[0].type === 'stage-start' && evs.at(-1)!.type === 'stage-end', name);
    assert.ok(ivs.every((e) => e.type === 'interval' && e.interval.stage === i), name);
  }
  assert.deepEqual(seq, [
    'stage-start:closed-fixed', 'stage-end:closed-fixed',
    'stage-start:closed-ramp', 'stage-end:closed-ramp',
    'stage-start:open-ramp', 'stage-end:open-ramp',
  ]);
  for (const e of rec.events.filter((x) => x.type === 'tick')) {
    const i = rec.events.indexOf(e);
    const start = rec.events.findLastIndex((x, j) => j < i && x.type === 'stage-start');
    assert.equal((rec.events[start] as { stage: { name: string } }).stage.name, e.stage.name, 'a tick belongs to the running stage');
  }
  // the ramp from 1 to 4 connections really opened 4 connections at some point (plus 2 from the first stage)
  assert.ok(srv.counts.connections >= 2 + 4, `connections seen: ${srv.counts.connections}`);
  // open ramp 100 -> 200 req/s over 1 s: 150 arrivals on schedule (each one sent or dropped)
  const open = summary.stages[2]!;
  assert.equal(open.rate.target, 150);
  const arrivals = open.counts.sent + open.counts.dropped;
  assert.ok(arrivals >= 145 && arrivals <= 155, `arrivals ${arrivals}`);
  // client counts match what the server saw (no errors configured)
  const clientSent = summary.stages.reduce((a, s) => a + s.counts.sent, 0);
  assert.ok(srv.counts.requests >= clientSent - 10 && srv.counts.requests <= clientSent, `${srv.counts.requests} vs ${clientSent}`);
  // thresholds: the profile's for every stage, the stage's own, and the run's
  assert.deepEqual(
    summary.thresholds.map((t) => `${t.stage}|${t.expr}|${t.passed}`),
    [
      'closed-fixed|error_rate < 1%|true',
      'closed-ramp|error_rate < 1%|true',
      'open-ramp|sent >= 1|true',
      'open-ramp|error_rate < 1%|true',
      'null|error_rate < 1%|true',
    ],
  );
  assert.equal(summary.passed, true);
  assert.equal(summary.aborted, false);
  assert.ok(summary.bench_memory!.samples.length >= 2, 'memory sampled at the start and the end');
  // the test server has no /metrics: the run says so once and carries on without server counts
  assert.ok(summary.warnings.some((w) => w.startsWith('server counts unavailable')), summary.warnings.join('\n'));
  assert.ok(summary.stages.every((s) => s.server === undefined));
});

test('abortOnFail stops at the end of the first stage that fails a threshold', async () => {
  const srv = await server({ errors: [{ code: 'unavailable', every: 2 }] });
  const p = profile({
    abortOnFail: true,
    thresholds: ['error_rate < 1%'],
    stages: [
      { name: 'one', duration: '400ms', rate: 50 },
      { name: 'two', duration: '400ms', rate: 50 },
    ],
  });
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r2', outputs: new OutputSet([]), scrape: false });
  assert.deepEqual(summary.stages.map((s) => s.name), ['one']);
  assert.equal(summary.aborted, true);
  assert.equal(summary.passed, false);
  const one = summary.stages[0]!;
  assert.equal(one.by_twirp_code.unavailable, Math.floor(srv.counts.requests / 2));
  const failed = summary.thresholds.find((t) => t.stage === 'one')!;
  assert.equal(failed.passed, false);
  assert.equal(failed.value, one.counts.errors / one.counts.sent);
});

test('breakpoint: the highest rate whose stage held every threshold, and the first that did not', async () => {
  const srv = await server();
  const p = profile({
    breakpoint: true,
    abortOnFail: true,
    // sent is deterministic in the open model (arrivals on schedule): 20, 40, 80 in half a second. The warm-up
    // has no thresholds, so it never counts as held even though it ran the highest rate.
    stages: [
      { name: 'warmup', duration: '200ms', rate: 400 },
      { name: 'rate-40', duration: '500ms', rate: 40, thresholds: ['sent <= 50'] },
      { name: 'rate-80', duration: '500ms', rate: 80, thresholds: ['sent <= 50'] },
      { name: 'rate-160', duration: '500ms', rate: 160, thresholds: ['sent <= 50'] },
      { name: 'rate-320', duration: '500ms', rate: 320, thresholds: ['sent <= 50'] },
    ],
  });
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r3', outputs: new OutputSet([]), scrape: false });
  const { text, saturated, ...b } = summary.breakpoint!;
  assert.deepEqual(b, { highest_rate_held: 80, first_failed_stage: 'rate-160', first_failed_rate: 160, top_rate: 320, ceiling: null, limit_found: true });
  // who saturated depends on how busy this machine is: the bench's own schedule lag at that step decides
  const g = summary.stages[3]!.generator;
  const lagSetLatency = isGeneratorSaturated(g?.schedule_lag_ms?.p99 ?? null, g?.event_loop_delay_ms.p99 ?? null, summary.stages[3]!.latency_ms.p99);
  assert.equal(saturated, lagSetLatency && g?.saturated ? 'generator' : 'service');
  assert.match(text!, saturated === 'service'
    ? /^80 req\/s held; rate-160 at 160 req\/s failed sent <= 50: the service saturated \(the bench kept its schedule\)$/
    : /^80 req\/s held; rate-160 at 160 req\/s failed sent <= 50: the generator saturated first \(it fell behind its schedule, lag p99 [\d.]+ ms\): the service's limit may lie higher, run the bench on more workers$/);
  assert.equal(summary.stages.length, 4, 'abortOnFail: rate-320 never ran');
  assert.equal(summary.passed, false);
});

test('abortOnFail ends a stage early once a count is past its bound, and says why', async () => {
  const srv = await server({ errors: [{ code: 'unavailable', every: 5 }] });
  const p = profile({
    abortOnFail: true,
    stages: [
      { name: 'long', duration: '60s', rate: 50, thresholds: ['twirp[unavailable] == 0'] },
      { name: 'never', duration: '1s', rate: 10 },
    ],
  });
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r6', outputs: new OutputSet([]), scrape: false });
  assert.deepEqual(summary.stages.map((s) => s.name), ['long']);
  assert.ok(summary.stages[0]!.duration_ms < 60_000, 'ended before its time');
  assert.ok(summary.stages[0]!.by_twirp_code.unavailable! >= 1);
  assert.equal(summary.aborted, true);
  assert.match(summary.abort_reason ?? '', /^stage long: ended early on twirp\[unavailable\] == 0 \(measured \d+ after \d+ms\); failed twirp\[unavailable\] == 0/);
});

test('interrupting ends the current stage, runs no more, and marks the summary', async () => {
  const srv = await server({ latencyMs: 1 });
  const p = profile({ stages: [{ name: 'long', duration: '30s', connections: 2 }, { name: 'never', duration: '1s', connections: 1 }] });
  const ac = new AbortController();
  const outputs = new OutputSet([{
    name: 'interrupter', start: async () => {}, stop: async () => {},
    add: (e) => { if (e.type === 'tick') ac.abort(); },
  }]);
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r4', outputs, signal: ac.signal, scrape: false });
  assert.deepEqual(summary.stages.map((s) => s.name), ['long']);
  assert.ok(summary.stages[0]!.duration_ms < 30_000, 'the stage ended early');
  assert.equal(summary.interrupted, true);
  assert.equal(summary.passed, false);
});

test('an output that throws or hangs is switched off; the run and the other outputs carry on', async () => {
  const srv = await server();
  const p = profile({ stages: [{ name: 's1', duration: '300ms', rate: 20 }, { name: 's2', duration: '300ms', rate: 20 }] });
  const rec = recorder();
  const thrower: Output = { name: 'thrower', start: async () => {}, stop: async () => {}, add: () => { throw new Error('boom'); } };
  const hanger: Output = { name: 'hanger', start: async () => {}, add: () => {}, stop: () => new Promise(() => {}) };
  const failsToStart: Output = { name: 'nostart', start: async () => { throw new Error('no'); }, add: () => {}, stop: async () => {} };
  const outputs = new OutputSet([thrower, hanger, failsToStart, rec.output], { stopTimeoutMs: 200 });
  await outputs.start(runInfo(p, srv.url, 'r5'));
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r5', outputs, scrape: false });
  await outputs.stop(summary);
  assert.equal(summary.stages.length, 2);
  assert.equal(rec.events.filter((e) => e.type === 'stage-end').length, 2);
  for (const [name, phase] of [['thrower', 'add'], ['hanger', 'stop'], ['nostart', 'start']]) {
    assert.ok(summary.warnings.some((w) => w.startsWith(`output ${name} failed in ${phase}`)), summary.warnings.join('\n'));
  }
});

test('the summary is finished before it is written: an output that fails to deliver is in the summary its writers get', async () => {
  const srv = await server();
  const p = profile({ stages: [{ name: 'only', duration: '1500ms', rate: 20 }] });
  const closed = await freePort(); // nothing listens here
  const silent = { warn() {}, info() {} };
  const remoteWrite = prometheusRemoteWriteOutput({ url: `http://127.0.0.1:${closed}/api/v1/write`, intervalMs: 200, timeoutMs: 300, logger: silent });
  const written: string[][] = [];
  const writer: Output = {
    name: 'writer', writesSummary: true, start: async () => {}, add: () => {},
    stop: async (s) => { written.push([...(s as RunSummary).warnings]); },
  };
  const outputs = new OutputSet([writer, remoteWrite]);
  await outputs.start(runInfo(p, srv.url, 'r10'));
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r10', outputs, scrape: false });
  await outputs.stop(summary);
  assert.equal(written.length, 1, 'the writer got the summary once');
  const failure = written[0]!.find((w) => w.startsWith('output prometheus: '));
  assert.ok(failure, written[0]!.join('\n'));
  assert.match(failure, /^output prometheus: (\d+) of \1 batches \(\d+ samples\) were not delivered to .* \(last error: ECONNREFUSED\)$/);
  assert.deepEqual(summary.warnings, written[0]);
});

test('runs that share one set of outputs number their stages on from each other (--apm-ab)', async () => {
  const srv = await server();
  const p = profile({ stages: [{ name: 'a', duration: '200ms', rate: 20 }, { name: 'b', duration: '200ms', rate: 20 }] });
  const rec = recorder();
  const outputs = new OutputSet([rec.output]);
  const second = await runProfile({ profile: p, firstStageIndex: 2, target: srv.url, runId: 'r11', outputs, scrape: false });
  assert.deepEqual(runInfo(p, srv.url, 'r11', 2).stages.map((s) => `${s.index}:${s.name}`), ['2:a', '3:b']);
  const seen = new Set(rec.events.map((e) => `${e.stage.index}:${e.stage.name}`));
  assert.deepEqual([...seen].sort(), ['2:a', '3:b']);
  assert.deepEqual(second.stages.map((s) => s.name), ['a', 'b']);
});

test('a target that rejects nearly everything as invalid_argument gets a warning naming the likely cause', async () => {
  const srv = await server({ errors: [{ code: 'invalid_argument', every: 1 }] });
  const p = profile({ stages: [{ name: 'only', duration: '300ms', rate: 30 }] });
  const summary = await runProfile({ profile: p, target: srv.url, runId: 'r7', outputs: new OutputSet([]), scrape: false });
  assert.ok(summary.warnings.some((w) => /answers were invalid_argument.*ALLOWED_PROPERTIES/.test(w)), summary.warnings.join('\n'));
  const fine = await runProfile({ profile: p, target: (await server()).url, runId: 'r8', outputs: new OutputSet([]), scrape: false });
  // (the generator's own verdict on a loaded machine is not about the target: issue 17's self-watch)
  assert.deepEqual(fine.warnings.filter((w) => !/load generator was saturated/.test(w)), []);
});

test('the memory sampler stays bounded: past its cap it thins out and slows down', async () => {
  const m = new MemorySampler(2, 4);
  await new Promise((r) => setTimeout(r, 200));
  const out = m.stop();
  assert.ok(out.samples.length <= 5, `${out.samples.length} samples`);
  assert.ok(out.every_s > 0.002, 'the step doubled at least once');
  assert.ok(out.samples.every((x) => x.rss_mb > 0 && x.heap_used_mb > 0));
  for (let i = 1; i < out.samples.length; i++) assert.ok(out.samples[i]!.t_s >= out.samples[i - 1]!.t_s);
});

test('a target that answers nothing gets a warning with the socket errors seen', async () => {
  const p = profile({ stages: [{ name: 'only', duration: '300ms', rate: 20 }] });
  const summary = await runProfile({ profile: p, target: 'http://127.0.0.1:1', runId: 'r9', outputs: new OutputSet([]), scrape: false });
  assert.equal(summary.stages[0]!.counts.completed, 0);
  assert.ok(summary.warnings.some((w) => /answered none of \d+ requests \(socket errors: ECONNREFUSED\)/.test(w)), summary.warnings.join('\n'));
});
