'use strict';
// The Elastic APM agent's options for this service, as pure functions (no side effects on require), so tests and
// the preload share them. Why each option is set is explained in apm-preload.cjs.

const path = require('node:path');
const fs = require('node:fs');

const GLOBAL_KEY = Symbol.for('pageview-stress-lab.apm');

/** The edge sample rate when ELASTIC_APM_TRANSACTION_SAMPLE_RATE is unset. */
// 1%: each traced request costs the service several times the CPU of an untraced one; measured with
// service/perf/apm-overhead.ts (wrk, 100 connections, MySQL): 0.01 kept ~1.0x of APM-off throughput, 0.1 kept 0.70x.
// Raise it for low-traffic services; requests with a sampled traceparent are traced whatever this says.
const DEFAULT_SAMPLE_RATE = 0.01;

class ApmConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ApmConfigError';
    this.code = 'APM_CONFIG_INVALID';
  }
}

/** Parses a sample rate the way the agent documents it: a number from 0.0 to 1.0 (at most 4 decimals kept). */
function parseSampleRate(raw) {
  if (raw === undefined || raw.trim() === '') return DEFAULT_SAMPLE_RATE;
  const text = raw.trim();
  if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(text)) {
    throw new ApmConfigError(
      `ELASTIC_APM_TRANSACTION_SAMPLE_RATE=${JSON.stringify(raw)}: expected a number from 0.0 to 1.0`,
    );
  }
  return Math.round(Number(text) * 10000) / 10000;
}

/**
 * A number from the environment: `def` when unset or blank, otherwise non-negative decimal text (whole numbers only
 * when `whole`) from `min` to `max`; anything else is an ApmConfigError that names the variable and `expected`.
 */
function parseBounded(name, raw, { def, min, max, whole, expected }) {
  if (raw === undefined || raw.trim() === '') return def;
  const text = raw.trim();
  const n = Number(text);
  if (!(whole ? /^\d+$/ : /^\d+(\.\d+)?$/).test(text) || n < min || n > max) {
    throw new ApmConfigError(`${name}=${JSON.stringify(raw)}: expected ${expected}`);
  }
  return n;
}

/** Decode/validate spans shorter than this are dropped unless TRACE_SPAN_MIN_DURATION_MS says otherwise. */
const DEFAULT_SPAN_MIN_DURATION_MS = 1;

/** TRACE_SPAN_MIN_DURATION_MS: whole or decimal milliseconds from 0 (record every span) to 60000. */
function parseSpanMinDuration(raw) {
  return parseBounded('TRACE_SPAN_MIN_DURATION_MS', raw, {
    def: DEFAULT_SPAN_MIN_DURATION_MS,
    min: 0,
    max: 60000,
    whole: false,
    expected: 'milliseconds from 0 to 60000',
  });
}

/** Commit waits of untraced flushes shorter than this get no span unless TRACE_COMMIT_WAIT_MIN_MS says otherwise. */
const DEFAULT_COMMIT_WAIT_MIN_MS = 25;

/** TRACE_COMMIT_WAIT_MIN_MS: milliseconds from 0 (a span for every commit wait) to 60000. */
function parseCommitWaitMin(raw) {
  return parseBounded('TRACE_COMMIT_WAIT_MIN_MS', raw, {
    def: DEFAULT_COMMIT_WAIT_MIN_MS,
    min: 0,
    max: 60000,
    whole: false,
    expected: 'milliseconds from 0 to 60000',
  });
}

/** Flush transactions per second unless TRACE_FLUSHES_PER_SECOND says otherwise. */
// A traced flush is a transaction, the mysql2 span (whose name the agent derives by tokenizing the whole multi-row
// INSERT), the links and its requests' commit-wait spans: about a millisecond of the main thread each, measured
// with TRACE_FLUSHES_PER_SECOND=100 against 0 on the Push route (node --cpu-prof, wrk -c100, 5% sampling).
const DEFAULT_FLUSHES_PER_SECOND = 10;

/** TRACE_FLUSHES_PER_SECOND: 0 (never trace a flush) to 10000. */
function parseFlushesPerSecond(raw) {
  return parseBounded('TRACE_FLUSHES_PER_SECOND', raw, {
    def: DEFAULT_FLUSHES_PER_SECOND,
    min: 0,
    max: 10000,
    whole: true,
    expected: 'a whole number from 0 to 10000',
  });
}

/** Edge-sampled request transactions per second unless TRACE_REQUESTS_PER_SECOND says otherwise. */
// A sample rate alone makes tracing cost grow with load: 1% of 40k req/s is 400 transactions a second, each of
// which costs the service tens of microseconds (service/perf/apm-overhead.ts), and under stress that is exactly the
// CPU the service needs. The budget caps what the edge decides (as Jaeger's rate-limiting sampler does); a request
// whose traceparent says sampled is traced whatever the budget, so a caller's trace never loses its server half.
// 50 a second with 10 flushes (TRACE_FLUSHES_PER_SECOND) kept 0.98x / 0.96x (medians / per round) of APM-off
// throughput where 100 with 20 kept 0.94x / 0.89x, side by side in one run (wrk -c100, MySQL, 7 rounds of 5 s).
const DEFAULT_REQUESTS_PER_SECOND = 50;

/** TRACE_REQUESTS_PER_SECOND: 1 to 1000000 edge-sampled transactions per second. */
function parseRequestsPerSecond(raw) {
  return parseBounded('TRACE_REQUESTS_PER_SECOND', raw, {
    def: DEFAULT_REQUESTS_PER_SECOND,
    min: 1,
    max: 1000000,
    whole: true,
    expected: 'a whole number from 1 to 1000000',
  });
}

/**
 * ELASTIC_APM_ACTIVE, read as the agent documents it (a boolean, default true): `false` keeps the agent from even
 * loading, like an unset server URL, so nothing here has to ask a started agent whether it is active.
 */
function parseActive(raw) {
  if (raw === undefined || raw.trim() === '') return true;
  const text = raw.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new ApmConfigError(`ELASTIC_APM_ACTIVE=${JSON.stringify(raw)}: expected true or false`);
}

function readPackageJson() {
  // service/src/telemetry -> repository root
  const file = path.resolve(__dirname, '..', '..', '..', 'package.json');
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { name: String(pkg.name), version: String(pkg.version) };
}

/** The options given to agent.start(); exported for tests and for the startup log line. */
function agentOptions(env, pkg) {
  return {
    serviceName: env.ELASTIC_APM_SERVICE_NAME || pkg.name,
    serviceVersion: env.ELASTIC_APM_SERVICE_VERSION || pkg.version,
    environment: env.ELASTIC_APM_ENVIRONMENT || env.NODE_ENV || 'development',
    serverUrl: env.ELASTIC_APM_SERVER_URL,
    instrumentIncomingHTTPRequests: false,
    transactionSampleRate: 1,
    opentelemetryBridgeEnabled: true,
    disableInstrumentations: ['fastify'],
    captureBody: 'off',
    captureHeaders: false,
    centralConfig: false,
    breakdownMetrics: false,
    cloudProvider: 'none',
    logLevel: 'warning',
    // Bounds on what waits for the APM server (agent defaults are 1024 / 768kb / 10s / 30s).
    maxQueueSize: 1024,
    apiRequestSize: '768kb',
    apiRequestTime: '10s',
    serverTimeout: '10s',
    // Spans per transaction: one Push has a handful; the cap protects against a runaway loop.
    transactionMaxSpans: 100,
    // Compression only merges consecutive exit spans; a Push has none, so it would only add bookkeeping.
    spanCompressionEnabled: false,
  };
}

module.exports = {
  GLOBAL_KEY,
  DEFAULT_SAMPLE_RATE,
  DEFAULT_SPAN_MIN_DURATION_MS,
  parseSampleRate,
  parseSpanMinDuration,
  DEFAULT_FLUSHES_PER_SECOND,
  parseFlushesPerSecond,
  DEFAULT_REQUESTS_PER_SECOND,
  parseRequestsPerSecond,
  DEFAULT_COMMIT_WAIT_MIN_MS,
  parseCommitWaitMin,
  parseActive,
  readPackageJson,
  agentOptions,
  ApmConfigError,
};
