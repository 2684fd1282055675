// Tracing's pure parts and its Fastify wiring without an agent (the agent-backed path is in apm.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import {
  benchLabel,
  parseTraceparent,
  requestTrace,
  startCommitWait,
  startFlush,
  startSpan,
  timedSpan,
  TokenBucket,
  tracingPlugin,
  transactionResult,
  twirpCodeFromBody,
  twirpMethodName,
} from '../src/telemetry/tracing';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

describe('parseTraceparent (W3C trace context)', () => {
  it('reads trace id, parent id and the sampled flag', () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-01`), { traceId: TRACE_ID, parentId: PARENT_ID, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`), { traceId: TRACE_ID, parentId: PARENT_ID, sampled: false });
    // Only bit 0 is the sampled flag; other flag bits are ignored.
    assert.equal(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-03`)?.sampled, true);
    assert.equal(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-02`)?.sampled, false);
  });

  it('accepts a later version with extra fields, as the spec asks', () => {
    assert.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01-extra`)?.traceId, TRACE_ID);
  });

  it('rejects everything else', () => {
    for (const bad of [
      undefined,
      ['a', 'b'],
      '',
      `00-${TRACE_ID}-${PARENT_ID}`,
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 has exactly four fields
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff is forbidden
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero parent id
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // upper-case hex
      `00-${TRACE_ID}-${PARENT_ID}-0g`,
      `00-${TRACE_ID}-${PARENT_ID}-01-${'x'.repeat(300)}`, // bounded length
    ]) {
      assert.equal(parseTraceparent(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('bench labels', () => {
  it('keeps 1-64 characters of [A-Za-z0-9._:-] starting with a letter or digit', () => {
    assert.equal(benchLabel('run-2024.11.23:a_b'), 'run-2024.11.23:a_b');
    assert.equal(benchLabel('x'.repeat(64)), 'x'.repeat(64));
  });
  it('drops anything else', () => {
    for (const bad of [undefined, '', 'x'.repeat(65), 'a b', '<script>', '-leading', 'ü', ['a'], 'a\nb']) {
      assert.equal(benchLabel(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('names, results, codes', () => {
  it('names a transaction after the Twirp method, one bounded name for anything else', () => {
    assert.equal(twirpMethodName('/twirp/stats.StatsService/Push'), 'stats.StatsService/Push');
    assert.equal(twirpMethodName('/twirp/stats.StatsService/Push?x=1'), 'stats.StatsService/Push');
    assert.equal(twirpMethodName('/twirp/../../etc/passwd'), 'twirp unknown route');
    assert.equal(twirpMethodName(`/twirp/${'a'.repeat(500)}/Push`), 'twirp unknown route');
  });

  it('result from the Twirp code; 4xx is success, 5xx failure, a vanished client unknown', () => {
    assert.deepEqual(transactionResult(200, undefined, true), { result: 'ok', outcome: 'success' });
    assert.deepEqual(transactionResult(400, 'invalid_argument', true), { result: 'invalid_argument', outcome: 'success' });
    assert.deepEqual(transactionResult(429, 'resource_exhausted', true), { result: 'resource_exhausted', outcome: 'success' });
    assert.deepEqual(transactionResult(503, 'unavailable', true), { result: 'unavailable', outcome: 'failure' });
    assert.deepEqual(transactionResult(500, undefined, true), { result: 'http_500', outcome: 'failure' });
    assert.deepEqual(transactionResult(200, undefined, false), { result: 'client_disconnected', outcome: 'unknown' });
  });

  it('reads the code of a Twirp error body, nothing from other bodies', () => {
    assert.equal(twirpCodeFromBody('{"code":"invalid_argument","msg":"x"}'), 'invalid_argument');
    assert.equal(twirpCodeFromBody(Buffer.from('{"code":"unavailable","msg":"x"}')), 'unavailable');
    assert.equal(twirpCodeFromBody('{"code":"DROP TABLE"}'), undefined);
    assert.equal(twirpCodeFromBody('not json'), undefined);
    assert.equal(twirpCodeFromBody({ code: 'internal' }), undefined);
  });
});

describe('TokenBucket', () => {
  it('allows a burst of perSecond, then refills with time', () => {
    let now = 0;
    const bucket = new TokenBucket(3, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
    now += 500; // half a second: 1.5 tokens
    assert.deepEqual([bucket.take(), bucket.take()], [true, false]);
    now += 10_000; // refill is capped at perSecond
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false]);
  });

  it('a zero budget never allows', () => {
    const bucket = new TokenBucket(0, () => 0);
    assert.equal(bucket.take(), false);
  });
});

describe('without the agent', () => {
  it('span helpers are no-ops that still run the work and pass results and errors through', async () => {
    assert.equal(startSpan(undefined, 'x').recording, false);
    assert.equal(startCommitWait(undefined), undefined);
    assert.equal(timedSpan(undefined, 'decode', () => 41 + 1), 42);
    assert.throws(() => timedSpan(undefined, 'validate', () => { throw new Error('bad'); }), /bad/);
    const flush = startFlush([undefined, undefined], 2);
    assert.equal(flush.recording, false);
    assert.equal(await flush.dispatch(async () => 'done'), 'done');
  });

  it('the plugin honours an incoming traceparent for log correlation and leaves other routes alone', async () => {
    const app = Fastify();
    await app.register(tracingPlugin);
    const seen: Array<{ url: string; traceId?: string; sampled?: boolean }> = [];
    app.post('/twirp/stats.StatsService/Push', async (request) => {
      const t = requestTrace(request);
      seen.push({ url: request.url, traceId: t?.traceId, sampled: t?.sampled });
      return {};
    });
    app.get('/healthz', async (request) => {
      seen.push({ url: request.url, traceId: requestTrace(request)?.traceId });
      return { status: 'ok' };
    });
    try {
      const traceparent = `00-${TRACE_ID}-${PARENT_ID}-01`;
      await app.inject({ method: 'POST', url: '/twirp/stats.StatsService/Push', headers: { traceparent }, payload: {} });
      await app.inject({ method: 'POST', url: '/twirp/stats.StatsService/Push', payload: {} });
      await app.inject({ method: 'GET', url: '/healthz', headers: { traceparent } });
      assert.deepEqual(seen, [
        // No agent: nothing is sampled, but the trace id is kept for the logs.
        { url: '/twirp/stats.StatsService/Push', traceId: TRACE_ID, sampled: false },
        { url: '/twirp/stats.StatsService/Push', traceId: undefined, sampled: undefined },
        { url: '/healthz', traceId: undefined },
      ]);
    } finally {
      await app.close();
    }
  });
});
