'use strict';
// Elastic APM agent preload: `node -r ./service/src/telemetry/apm-preload.cjs --import tsx service/src/main.ts`.
//
// The agent must be loaded before any module it instruments (mysql2, http), and its ESM support does not cover
// mysql2, so this is a CommonJS `-r` preload rather than an import in main.ts.
// Docs: https://www.elastic.co/guide/en/apm/agent/nodejs/current/starting-the-agent.html
//
// Without ELASTIC_APM_SERVER_URL this file does nothing at all: the agent is not even required, so it patches
// nothing and makes no connection attempts (the agent's own default would be to send to 127.0.0.1:8200).
//
// Design for low overhead (the numbers are in service/perf/apm-overhead.ts):
// - instrumentIncomingHTTPRequests=false: the agent's incoming-HTTP instrumentation costs a large share of
//   throughput on a small route even for requests it does not sample. The service opens transactions itself,
//   only for requests it decided to sample at the edge (service/src/telemetry/tracing/request-trace.ts).
// - The edge decision owns sampling: ELASTIC_APM_TRANSACTION_SAMPLE_RATE is read here as the edge rate, and the
//   agent itself runs at 1.0, because it only ever sees requests that were already sampled. (The agent lets an
//   environment variable win over start() options, so the variable is removed from this process's env after
//   it has been read.)
// - disableInstrumentations=fastify: its hooks would run on every request and capture every handler error,
//   4xx included; the service captures Twirp errors itself with a `twirp_code` label.
// - breakdownMetrics=false, captureHeaders=false, captureBody=off, centralConfig=false: less work per request,
//   no auth headers or bodies leave the process, and no remote setting can change what was decided here.
// - The service's own spans are few per Push and budgeted (TRACE_SPAN_MIN_DURATION_MS, TRACE_COMMIT_WAIT_MIN_MS,
//   TRACE_FLUSHES_PER_SECOND; parsed in apm-options.cjs, explained in tracing/spans.ts and tracing/flush-trace.ts).
// - The queue to the APM server is bounded (maxQueueSize, apiRequestSize, apiRequestTime, serverTimeout), so
//   an APM server that is down or slow costs dropped events, never unbounded memory.
// - Only the agent's public API and documented options are used (https://www.elastic.co/guide/en/apm/agent/nodejs/current/configuration.html),
//   so a minor agent upgrade cannot silently undo any of this.

const {
  GLOBAL_KEY,
  parseSampleRate,
  parseSpanMinDuration,
  parseFlushesPerSecond,
  parseRequestsPerSecond,
  parseCommitWaitMin,
  parseActive,
  readPackageJson,
  agentOptions,
} = require('./apm-options.cjs');

function start() {
  const env = process.env;
  const serverUrl = (env.ELASTIC_APM_SERVER_URL || '').trim();
  if (serverUrl === '') {
    globalThis[GLOBAL_KEY] = { active: false, reason: 'ELASTIC_APM_SERVER_URL is not set' };
    return;
  }
  if (!parseActive(env.ELASTIC_APM_ACTIVE)) {
    globalThis[GLOBAL_KEY] = { active: false, reason: 'the agent is configured inactive (ELASTIC_APM_ACTIVE=false)' };
    return;
  }
  const sampleRate = parseSampleRate(env.ELASTIC_APM_TRANSACTION_SAMPLE_RATE);
  const spanMinDurationMs = parseSpanMinDuration(env.TRACE_SPAN_MIN_DURATION_MS);
  const flushesPerSecond = parseFlushesPerSecond(env.TRACE_FLUSHES_PER_SECOND);
  const requestsPerSecond = parseRequestsPerSecond(env.TRACE_REQUESTS_PER_SECOND);
  const commitWaitMinMs = parseCommitWaitMin(env.TRACE_COMMIT_WAIT_MIN_MS);
  delete env.ELASTIC_APM_TRANSACTION_SAMPLE_RATE;
  const options = agentOptions(env, readPackageJson());
  const agent = require('elastic-apm-node').start(options);
  globalThis[GLOBAL_KEY] = {
    active: true,
    agent,
    sampleRate,
    spanMinDurationMs,
    flushesPerSecond,
    requestsPerSecond,
    commitWaitMinMs,
    serviceName: options.serviceName,
    serviceVersion: options.serviceVersion,
    environment: options.environment,
  };
}

// Once per process, whether loaded by -r or required again.
if (globalThis[GLOBAL_KEY] === undefined) {
  start();
}
