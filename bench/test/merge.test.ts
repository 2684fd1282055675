// The coordinator's merge: N workers' intervals, sent over the wire (encoded histograms), give exactly the
// percentiles of one histogram of every sample, the counts of one process, a per-second timeline whose seconds
// add up to the totals, and late intervals still join the totals.
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import assert from 'node:assert/strict';
import { decodeInterval, emptyCounts, encodeInterval, newHistogram, type Interval } from '../src/metrics/interval';
import { summarize } from '../src/metrics/latency-histogram';
import { mergedStageResult, StageMerge } from '../src/distributed/merge';
import type { StageResult } from '../src/types';
import { rng } from '../src/report/compare-stats';


/** Heavy-tailed latencies in µs: most around a millisecond, a few seconds-long outliers per worker. */
function latency(r: () => number, worker: number): number {
  const base = Math.exp(Math.log(800 + worker * 150) + 0.6 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  return Math.max(1, Math.round(r() < 0.002 ? base * 500 : base));
}

interface Made { iv: Interval; samples: number[] }

function makeInterval(r: () => number, worker: number, second: number, n: number, jitterMs: number): Made {
  const iv: Interval = {
    stage: 0, t0Ms: second * 1000 + (second === 0 ? 0 : jitterMs), t1Ms: (second + 1) * 1000 + jitterMs,
    counts: emptyCounts(), scheduled: n, inFlight: worker + 1, targetRate: 100,
    byStatus: {}, byTwirpCode: {}, byErrorCode: {},
    latency: newHistogram(), serviceTime: newHistogram(), scheduleLagUs: newHistogram(),
  };
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const us = latency(r, worker);
    samples.push(us);
    iv.latency.recordValue(us);
    iv.serviceTime!.recordValue(Math.max(1, Math.round(us / 2)));
    const status = r() < 0.03 ? 503 : 200;
    iv.counts.sent++;
    iv.counts.completed++;
    if (status === 200) iv.counts.ok++; else iv.counts.errors++;
    iv.byStatus[status] = (iv.byStatus[status] ?? 0) + 1;
    const code = status === 200 ? 'ok' : 'unavailable';
    iv.byTwirpCode[code] = (iv.byTwirpCode[code] ?? 0) + 1;
  }
  return { iv, samples };
}

/** Over the wire: what the worker sends and the coordinator decodes. */
const wire = (iv: Interval): Interval => decodeInterval(JSON.parse(JSON.stringify(encodeInterval(iv))));

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100];

/**
 * One histogram of all samples as the wire carries it: a decoded histogram knows its max only to HDR precision
 * (the highest value equivalent to it), like every percentile.
 */
function overWire(h: ReturnType<typeof newHistogram>): ReturnType<typeof newHistogram> {
  const iv = makeInterval(() => 0.5, 0, 0, 0, 0).iv;
  iv.latency = h;
  return wire(iv).latency;
}

test('N workers merged give exactly the percentiles and counts of one histogram of all samples', () => {
  for (const workers of [2, 3, 7]) {
    const r = rng(1000 + workers);
    const merge = new StageMerge({ stage: 0, model: 'open', workers });
    const all = newHistogram();
    let sent = 0;
    let errors = 0;
    const parts: number[][] = Array.from({ length: workers }, () => []);
    for (let second = 0; second < 5; second++) {
      for (let w = 0; w < workers; w++) {
        const { iv, samples } = makeInterval(r, w, second, 200 + Math.floor(r() * 800), Math.floor(r() * 8));
        sent += iv.counts.sent;
        errors += iv.counts.errors;
        for (const s of samples) all.recordValue(s);
        parts[w]!.push(...samples);
        merge.add(w, wire(iv));
      }
    }
    for (const p of PERCENTILES) {
      assert.equal(merge.total.latency.getValueAtPercentile(p), all.getValueAtPercentile(p), `${workers} workers, p${p}`);
    }
    assert.equal(merge.total.latency.totalCount, all.totalCount);
    assert.deepEqual(summarize(merge.total.latency), summarize(overWire(all)));
    assert.equal(merge.total.counts.sent, sent);
    assert.equal(merge.total.counts.errors, errors);
    assert.equal(merge.total.byStatus['503'], errors);
    // and what the merge avoids: the mean of the workers' p99s is not the p99 of the whole
    const p99s = parts.map((ss) => { const h = newHistogram(); ss.forEach((s) => h.recordValue(s)); return h.getValueAtPercentile(99); });
    assert.notEqual(p99s.reduce((a, b) => a + b, 0) / workers, all.getValueAtPercentile(99));
  }
});

test('the timeline: one interval per second with every worker in it, adding up to the totals', () => {
  const workers = 3;
  const r = rng(7);
  const merge = new StageMerge({ stage: 0, model: 'open', workers });
  const out: Interval[] = [];
  const perSecond: number[] = [];
  for (let second = 0; second < 4; second++) {
    perSecond[second] = 0;
    for (let w = 0; w < workers; w++) {
      const { iv } = makeInterval(r, w, second, 50, w * 3);
      perSecond[second]! += iv.counts.sent;
      const released = merge.add(w, wire(iv));
      // a second goes out only when the last worker reported it
      if (w < workers - 1) assert.equal(released.length, 0, `second ${second} released before worker ${w + 1} reported`);
      else assert.equal(released.length, 1);
      out.push(...released);
    }
  }
  assert.deepEqual(out.map((iv) => iv.counts.sent), perSecond);
  assert.deepEqual(out.map((iv) => iv.inFlight), [6, 6, 6, 6], 'in flight is the sum over workers');
  assert.deepEqual(out.map((iv) => iv.targetRate), [300, 300, 300, 300], 'each worker reports its share of the target');
  const all = newHistogram();
  for (const iv of out) all.add(iv.latency);
  assert.deepEqual(summarize(all), summarize(merge.total.latency));
});

test('a lagging worker does not hold the timeline; its late intervals are emitted and join the totals', () => {
  const r = rng(11);
  const merge = new StageMerge({ stage: 0, model: 'closed', workers: 2, holdSlots: 2 });
  const released: Interval[] = [];
  let total = 0;
  for (let second = 0; second < 6; second++) {
    const { iv } = makeInterval(r, 0, second, 10, 0);
    total += iv.counts.sent;
    released.push(...merge.add(0, wire(iv)));
  }
  // worker 1 has said nothing: seconds more than 2 behind the newest (5) went out with worker 0 alone
  assert.deepEqual(released.map((iv) => StageMerge.slotOf(iv)), [0, 1, 2, 3]);
  const late = makeInterval(r, 1, 1, 10, 0).iv;
  total += late.counts.sent;
  const lateOut = merge.add(1, wire(late));
  assert.equal(lateOut.length, 1, 'a late interval is emitted on its own');
  assert.equal(merge.lateOf(1), 1);
  assert.equal(merge.total.counts.sent, total, 'and it is in the totals');
  const rest = merge.flush();
  assert.deepEqual(rest.map((iv) => StageMerge.slotOf(iv)), [4, 5]);
  const emitted = [...released, ...lateOut, ...rest].reduce((a, iv) => a + iv.counts.sent, 0);
  assert.equal(emitted, total, 'every request is in exactly one emitted interval');
});

test('the merged stage result: counts and percentiles from the merge, bytes and length from the workers', () => {
  const r = rng(3);
  const merge = new StageMerge({ stage: 0, model: 'open', workers: 2 });
  const all = newHistogram();
  for (let w = 0; w < 2; w++) {
    const { iv, samples } = makeInterval(r, w, 0, 500, 0);
    samples.forEach((s) => all.recordValue(s));
    merge.add(w, wire(iv));
  }
  const res = (w: number): StageResult => ({
    name: 'hold', model: 'open', started_at: new Date(0).toISOString(), ended_at: new Date(1000).toISOString(),
    duration_ms: 1000 + w, counts: emptyCounts(), rate: { target: 50, achieved: 0 },
    latency_ms: summarize(newHistogram()), by_status: {}, by_twirp_code: {}, by_error_code: {}, bytes: { sent: 100 * (w + 1), received: 10 },
  });
  const m = mergedStageResult('hold', 'open', Date.UTC(2026, 0, 1), merge, [res(0), res(1)]);
  assert.equal(m.counts.completed, 1000);
  assert.equal(m.duration_ms, 1001);
  assert.equal(m.rate.target, 100);
  assert.equal(m.rate.achieved, Math.round((1000 / 1.001) * 100) / 100);
  assert.deepEqual(m.latency_ms, summarize(overWire(all)));
  // the merged histogram itself is in the result, as one process writes its own (the report's spectrum)
  assert.deepEqual(summarize(hdr.decodeFromCompressedBase64(m.latency_hdr!, 32, false)), m.latency_ms);
  assert.deepEqual(m.bytes, { sent: 300, received: 20 });
  assert.equal(m.started_at, '2026-01-01T00:00:00.000Z');
});
