// The tracing plugin and its span helpers without an agent (the agent-backed path is in apm.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { startCommitWait, startFlush } from '../src/telemetry/tracing/flush-trace';
import { requestTrace } from '../src/telemetry/tracing/request-trace';
import { startSpan, timedSpan } from '../src/telemetry/tracing/spans';
import { tracingPlugin } from '../src/telemetry/tracing/tracing-plugin';
import { twirpError } from '../src/twirp/errors';
import { sendTwirpError } from '../src/twirp/reply';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

describe('tracing without the agent', () => {
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

describe('the Twirp code of an error answer', () => {
  it('comes from the reply that produced it, never from reading a body back', async () => {
    const app = Fastify();
    app.decorateRequest('twirpCode', null);
    app.decorateRequest('twirpError', null);
    await app.register(tracingPlugin);
    const seen: Array<string | undefined> = [];
    app.addHook('onResponse', (request, _reply, done) => {
      seen.push(requestTrace(request)?.twirpCode);
      done();
    });
    app.post('/twirp/stats.StatsService/Push', (request, reply) => {
      if (request.headers['x-case'] === 'error') return sendTwirpError(request, reply, twirpError.resourceExhausted('full'));
      return reply.code(400).send('{"code":"internal","msg":"not a Twirp reply"}');
    });
    try {
      const headers = { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` };
      const failed = await app.inject({ method: 'POST', url: '/twirp/stats.StatsService/Push', headers: { ...headers, 'x-case': 'error' }, payload: {} });
      assert.equal(failed.statusCode, 429);
      await app.inject({ method: 'POST', url: '/twirp/stats.StatsService/Push', headers, payload: {} });
      assert.deepEqual(seen, ['resource_exhausted', 'http_400']);
    } finally {
      await app.close();
    }
  });
});
