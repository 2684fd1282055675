'use strict';
// The Elastic APM agent's options for this service, as pure functions (no side effects on require), so tests and
// the preload share them. Why each option is set is explained in apm-preload.cjs.

const path = require('node:path');
const fs = require('node:fs');

const GLOBAL_KEY = Symbol.for('pageview-stress-lab.apm');

/** The edge sample rate when ELASTIC_APM_TRANSACTION_SAMPLE_RATE is unset. */
const DEFAULT_SAMPLE_RATE = 0.1;

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
  };
}

module.exports = { GLOBAL_KEY, DEFAULT_SAMPLE_RATE, parseSampleRate, readPackageJson, agentOptions, ApmConfigError };
