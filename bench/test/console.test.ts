// The console output: live line only when given a progress writer (TTY and not --quiet), \r-overwritten and cut
// to the terminal width; the final wrk-like table with client and server side by side and disagreements.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleOutput, formatProgress, formatSummary, fmtMs } from '../src/outputs/console';
import type { StageInfo, StageResult, StageSnapshot, Summary } from '../src/types';

const info: StageInfo = { index: 0, name: 'hold', model: 'open', durationMs: 10_000 };
const snap: StageSnapshot = {
  elapsedMs: 2500, counts: { sent: 250, completed: 240, ok: 238, errors: 2, timeouts: 0, dropped: 1 }, inFlight: 10,
  targetRate: 100, achievedRate: 96, by_status: {}, by_twirp_code: {}, by_error_code: {},
  latency_ms: { p50: 1, p90: 2, p99: 12.5, p999: 20, max: 30, mean: 1.5 },
  latencyBuckets: [], latencySumSeconds: 0, latencyCount: 240,
};

function stage(name: string, server?: StageResult['server']): StageResult {
  return {
    name, model: 'closed', started_at: '', ended_at: '', duration_ms: 5000,
    counts: { sent: 1010, completed: 1000, ok: 990, errors: 20, timeouts: 5, dropped: 0 },
    rate: { target: null, achieved: 200 },
    latency_ms: { p50: 0.25, p90: 1.5, p99: 12, p999: 40, max: 1500, mean: 1 },
    by_status: { '200': 990, '503': 10 }, by_twirp_code: { ok: 990, unavailable: 10 }, by_error_code: { ECONNRESET: 5 },
    bytes: { sent: 2048, received: 3 * 1024 * 1024 },
    server,
  };
}

test('progress line: elapsed/total, rate vs target, errors, p99', () => {
  const line = formatProgress(0, 3, 'hold', 10_000, snap);
  assert.equal(line, '[1/3] hold 2.5s/10s 25% | 96.0/100 req/s | ok 238 err 2 dropped 1 | in flight 10 | p99 12.50ms');
});

test('live line only with a progress writer; overwritten with \\r and cleared before the table', async () => {
  const table: string[] = [];
  const live: string[] = [];
  const out = consoleOutput({ write: (s) => table.push(s), progress: (s) => live.push(s), columns: 40 });
  await out.start({ runId: 'r', profile: 'p', target: 't', startedAt: 0, stages: [info] });
  out.add({ type: 'tick', at: 0, stage: info, snapshot: snap });
  assert.equal(live.length, 1);
  assert.ok(live[0]!.startsWith('\r\x1b[2K[1/1] hold'));
  assert.ok(live[0]!.length <= '\r\x1b[2K'.length + 39, 'cut to the terminal width');
  out.add({ type: 'stage-end', at: 0, stage: info, result: stage('hold'), thresholds: [{ expr: 'p99 < 10ms', stage: 'hold', value: 12, passed: false }] });
  assert.equal(live[1], '\r\x1b[2K');
  assert.match(live[2]!, /^stage 1\/1 hold: 1010 sent, 990 ok, 20 errors/);
  // the stage's table is written when the stage ends, with its thresholds
  assert.equal(table.length, 2);
  assert.equal(table[0], 'Run r: profile p against t\n');
  assert.match(table[1]!, /^\nStage 1\/1 hold \(closed, 5s\)\n/);
  assert.match(table[1]!, /FAIL p99 < 10ms {2}\(measured 12\.00ms\)/);
  await out.stop({ run_id: 'r', profile: 'p', target: 't', started_at: '', ended_at: '', passed: false, aborted: false, thresholds: [], stages: [stage('hold')] });
  assert.equal(table.length, 3);
  assert.doesNotMatch(table[2]!, /Stage 1\/1/, 'the run end does not repeat the stage table');

  const quiet: string[] = [];
  const q = consoleOutput({ write: (s) => quiet.push(s) });
  await q.start({ runId: 'r', profile: 'p', target: 't', startedAt: 0, stages: [info] });
  q.add({ type: 'tick', at: 0, stage: info, snapshot: snap });
  assert.deepEqual(quiet, [], 'no live line without a progress writer');
});

test('the table: latency row, counts, statuses, socket errors, client next to server, disagreements, verdict', () => {
  const summary: Summary = {
    run_id: 'run-1', profile: 'stress', target: 'http://127.0.0.1:1', started_at: '', ended_at: '', passed: false, aborted: true,
    thresholds: [
      { expr: 'p99 < 10ms', stage: 'a', value: 12, passed: false },
      { expr: 'error_rate < 5%', stage: null, value: 0.0198, passed: true },
    ],
    stages: [
      stage('a', { requests: 1003, by_twirp_code: { ok: 993, unavailable: 10 }, rows_written: 993, disagreements: ['accepted: server 993 > client ok 990 + 0'] }),
      stage('b'),
    ],
    breakpoint: { highest_rate_held: 400, first_failed_stage: 'a' },
  };
  const text = formatSummary(summary);
  assert.match(text, /^Run run-1: profile stress against http:\/\/127\.0\.0\.1:1/);
  assert.match(text, /Stage 1\/2 a \(closed, 5s\)/);
  assert.match(text, /client\s+250us\s+1\.50ms\s+12\.00ms\s+40\.00ms\s+1\.50s\s+1\.00ms/);
  assert.match(text, /1010 sent, 1000 answered, 990 ok, 20 errors \(5 timeouts\), 0 dropped/);
  assert.match(text, /Status {4}200=990 503=10/);
  assert.match(text, /Socket {4}ECONNRESET=5/);
  assert.match(text, /answered\s+1000\s+1003/);
  assert.match(text, /twirp unavailable\s+10\s+10/);
  assert.match(text, /no answer \(fate unknown\)\s+10/);
  assert.match(text, /rows written\s+990\s+993/);
  assert.match(text, /DISAGREE: accepted: server 993 > client ok 990/);
  assert.match(text, /FAIL p99 < 10ms {2}\(measured 12\.00ms\)/);
  assert.match(text, /\(no server counts: \/metrics not readable\)/);
  assert.match(text, /Run thresholds\n {2}ok {3}error_rate < 5%/);
  assert.match(text, /Breakpoint: highest rate that held every threshold: 400 req\/s \(first failing stage: a\)/);
  assert.match(text, /FAILED: 1 of 2 threshold checks failed; run aborted\n$/);
  assert.equal(fmtMs(0.0005), '1us');
});

test('distributed runs: one line per worker with its part, status, clock offset and start skew', () => {
  const summary = {
    run_id: 'run-2', profile: 'load', target: 'http://127.0.0.1:1', started_at: '', ended_at: '', passed: false, aborted: false,
    thresholds: [], stages: [stage('a')],
    workers: [
      { index: 0, host: 'local-0', status: 'ok', sent: 36533, ok: 36531, errors: 0, achieved_rate: 3650.18, clock_offset_ms: 0.131, max_start_skew_ms: 0.121 },
      { index: 1, host: 'node-b', status: 'lost', sent: 120, ok: 118, errors: 2, achieved_rate: 12, clock_offset_ms: -3.5, max_start_skew_ms: null },
    ],
  } as Summary;
  const lines = formatSummary(summary).split('\n');
  const at = lines.indexOf('Workers (2)');
  assert.ok(at > 0, lines.join('\n'));
  assert.match(lines[at + 1]!, /#\s+host\s+status\s+sent\s+ok\s+errors\s+req\/s\s+clock offset\s+start skew/);
  assert.match(lines[at + 2]!, /^\s+0\s+local-0\s+ok\s+36533\s+36531\s+0\s+\S+\s+\+0\.131ms\s+\+0\.121ms$/);
  assert.match(lines[at + 3]!, /^\s+1\s+node-b\s+lost\s+120\s+118\s+2\s+\S+\s+-3\.500ms\s+-$/);
});

test('live line: the rate over the last tick, the target now, the top error classes', async () => {
  const s: StageSnapshot = {
    ...snap,
    counts: { sent: 3000, completed: 2990, ok: 770, errors: 2230, timeouts: 10, dropped: 0 },
    by_twirp_code: { ok: 770, unavailable: 2200, resource_exhausted: 20 }, by_error_code: {},
  };
  const line = formatProgress(0, 1, 'hold', 10_000, s, 498);
  assert.match(line, /\| 498\/100 req\/s \| ok 770 err 2230 \(unavailable 98\.7%, resource_exhausted 0\.9%\) \|/);
  const live: string[] = [];
  const out = consoleOutput({ write: () => {}, progress: (x) => live.push(x) });
  await out.start({ runId: 'r', profile: 'p', target: 't', startedAt: 0, stages: [info] });
  out.add({ type: 'tick', at: 0, stage: info, snapshot: { ...snap, elapsedMs: 1000, counts: { ...snap.counts, completed: 100 }, achievedRate: 100 } });
  out.add({ type: 'tick', at: 0, stage: info, snapshot: { ...snap, elapsedMs: 2000, counts: { ...snap.counts, completed: 400 }, achievedRate: 200 } });
  assert.match(live[1]!, /\| 300\/100 req\/s \|/, 'the second tick shows the last second, not the average');
});

test('thresholds over no answers say so; rates print as percentages; server time, peaks and causes in the stage table', () => {
  const st: StageResult = {
    ...stage('down'),
    server_time: { flush_ms: { p50: 20.5, p99: 120 }, acquire_wait_ms: { p99: 3 }, rows_per_flush: { mean: 12.5 }, flushes: 80 },
    peaks: { buffer: { peak: 10, capacity: 10 }, pool: { peak: 40, max: 40 }, in_flight: { peak: 412 } },
    diagnosis: [{ rule: 'buffer-full', severity: 'error', text: '98 answers were resource_exhausted: the write buffer (capacity 10) was full', evidence: {} }],
  };
  const text = formatSummary({
    run_id: 'r', profile: 'p', target: 't', started_at: '', ended_at: '', passed: false, aborted: false,
    thresholds: [
      { expr: 'p99 < 100ms', stage: 'down', value: null, passed: false, note: 'no answers' },
      { expr: 'error_rate < 1%', stage: 'down', value: 0.523, passed: false },
      { expr: 'achieved_rate >= 99% of target', stage: 'down', value: 0.9912, passed: true },
    ],
    stages: [st],
  });
  assert.match(text, /FAIL p99 < 100ms {2}\(no answers\)/);
  assert.match(text, /FAIL error_rate < 1% {2}\(measured 52\.3%\)/);
  assert.match(text, /ok {3}achieved_rate >= 99% of target {2}\(measured 99\.1%\)/);
  assert.match(text, /Server {4}80 flushes, p50 20\.50ms p99 120\.00ms, pool wait p99 3\.00ms, 12\.5 rows per flush/);
  assert.match(text, /Peaks {5}buffer 10\/10, pool 40\/40, in flight 412/);
  assert.match(text, /CAUSE {5}98 answers were resource_exhausted: the write buffer \(capacity 10\) was full/);
});
