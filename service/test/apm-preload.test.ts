// The APM preload: its options, and that without ELASTIC_APM_SERVER_URL it loads nothing and connects nowhere.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PRELOAD, REPO_ROOT } from './support/apm-service';

const options = require('../src/telemetry/apm-options.cjs') as {
  DEFAULT_SAMPLE_RATE: number;
  parseSampleRate(raw: string | undefined): number;
  parseSpanMinDuration(raw: string | undefined): number;
  parseFlushesPerSecond(raw: string | undefined): number;
  DEFAULT_REQUESTS_PER_SECOND: number;
  parseRequestsPerSecond(raw: string | undefined): number;
  parseCommitWaitMin(raw: string | undefined): number;
  parseActive(raw: string | undefined): boolean;
  readPackageJson(): { name: string; version: string };
  agentOptions(env: Record<string, string | undefined>, pkg: { name: string; version: string }): Record<string, unknown>;
};

const run = promisify(execFile);

/** Runs a tiny script under the preload; returns what it prints (JSON). */
async function underPreload(env: Record<string, string>, script: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const childEnv: Record<string, string> = { PATH: process.env.PATH ?? '', ...env };
  try {
    const { stdout, stderr } = await run(process.execPath, ['-r', PRELOAD, '-e', script], {
      cwd: REPO_ROOT,
      env: childEnv,
      timeout: 30_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

const REPORT = `
const key = Symbol.for('pageview-stress-lab.apm');
const state = globalThis[key];
const loaded = Object.keys(require.cache).filter((p) => p.includes('elastic-apm-node')).length;
process.stdout.write(JSON.stringify({ active: state && state.active, reason: state && state.reason, loaded,
  sampleRate: state && state.sampleRate, env: process.env.ELASTIC_APM_TRANSACTION_SAMPLE_RATE ?? null }));
`;

describe('apm options', () => {
  it('edge sample rate: 0.0-1.0, default when unset, a clear error otherwise', () => {
    assert.equal(options.parseSampleRate(undefined), options.DEFAULT_SAMPLE_RATE);
    assert.equal(options.parseSampleRate(' '), options.DEFAULT_SAMPLE_RATE);
    assert.equal(options.parseSampleRate('0'), 0);
    assert.equal(options.parseSampleRate('1.0'), 1);
    assert.equal(options.parseSampleRate('0.25'), 0.25);
    assert.equal(options.parseSampleRate('0.123456'), 0.1235);
    for (const bad of ['1.5', '-0.1', 'abc', '10%', '2']) {
      assert.throws(() => options.parseSampleRate(bad), { code: 'APM_CONFIG_INVALID' }, bad);
    }
  });

  it('span minimum duration and flush budget: bounded, zero allowed', () => {
    assert.equal(options.parseSpanMinDuration('0'), 0);
    assert.equal(options.parseSpanMinDuration('2.5'), 2.5);
    assert.throws(() => options.parseSpanMinDuration('-1'), { code: 'APM_CONFIG_INVALID' });
    assert.throws(() => options.parseSpanMinDuration('60001'), { code: 'APM_CONFIG_INVALID' });
    assert.equal(options.parseFlushesPerSecond('0'), 0);
    assert.equal(options.parseFlushesPerSecond('50'), 50);
    assert.throws(() => options.parseFlushesPerSecond('1.5'), { code: 'APM_CONFIG_INVALID' });
    assert.throws(() => options.parseFlushesPerSecond('10001'), { code: 'APM_CONFIG_INVALID' });
    assert.equal(options.parseCommitWaitMin('0'), 0);
    assert.equal(options.parseCommitWaitMin(undefined), 25);
    assert.throws(() => options.parseCommitWaitMin('soon'), { code: 'APM_CONFIG_INVALID' });
  });

  it('request trace budget: whole numbers from 1, default when unset, a clear error otherwise', () => {
    assert.equal(options.parseRequestsPerSecond(undefined), options.DEFAULT_REQUESTS_PER_SECOND);
    assert.equal(options.parseRequestsPerSecond(' 250 '), 250);
    assert.equal(options.parseRequestsPerSecond('1000000'), 1000000);
    for (const bad of ['0', '-5', '2.5', 'lots', '1000001']) {
      assert.throws(() => options.parseRequestsPerSecond(bad), /TRACE_REQUESTS_PER_SECOND=.*expected a whole number from 1 to 1000000/);
    }
  });

  it('ELASTIC_APM_ACTIVE: true (default) or false, as the agent reads it; a clear error otherwise', () => {
    assert.equal(options.parseActive(undefined), true);
    assert.equal(options.parseActive(' '), true);
    assert.equal(options.parseActive('TRUE'), true);
    assert.equal(options.parseActive(' false '), false);
    assert.throws(() => options.parseActive('no'), /ELASTIC_APM_ACTIVE="no": expected true or false/);
  });

  it('agent options: name and version from package.json, edge-sampled design, bounded queue', () => {
    const pkg = options.readPackageJson();
    const o = options.agentOptions({ ELASTIC_APM_SERVER_URL: 'http://127.0.0.1:8200', NODE_ENV: 'production' }, pkg);
    assert.equal(o.serviceName, pkg.name);
    assert.equal(o.serviceVersion, pkg.version);
    assert.equal(o.environment, 'production');
    assert.equal(o.instrumentIncomingHTTPRequests, false);
    assert.equal(o.opentelemetryBridgeEnabled, true);
    assert.equal(o.transactionSampleRate, 1, 'the edge decides; the agent sees only sampled requests');
    assert.deepEqual(o.disableInstrumentations, ['fastify']);
    assert.equal(o.captureHeaders, false);
    assert.equal(typeof o.maxQueueSize, 'number');
    const named = options.agentOptions(
      { ELASTIC_APM_SERVICE_NAME: 'pv', ELASTIC_APM_ENVIRONMENT: 'stress', ELASTIC_APM_SERVICE_VERSION: '9.9.9' },
      pkg,
    );
    assert.deepEqual([named.serviceName, named.environment, named.serviceVersion], ['pv', 'stress', '9.9.9']);
  });
});

describe('the preload', () => {
  it('without ELASTIC_APM_SERVER_URL does not even load the agent', async () => {
    const res = await underPreload({}, REPORT);
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(res.stdout) as { active: boolean; reason: string; loaded: number };
    assert.equal(report.active, false);
    assert.match(report.reason, /ELASTIC_APM_SERVER_URL/);
    assert.equal(report.loaded, 0, 'no elastic-apm-node module was required');
  });

  it('with a server URL starts the agent and takes the sample rate for the edge', async () => {
    // A port nothing listens on: the agent's connection attempts fail quietly; the script exits at once.
    const res = await underPreload(
      {
        ELASTIC_APM_SERVER_URL: 'http://127.0.0.1:9',
        ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '0.25',
        ELASTIC_APM_METRICS_INTERVAL: '0s',
        ELASTIC_APM_CLOUD_PROVIDER: 'none',
        ELASTIC_APM_LOG_LEVEL: 'off',
      },
      `${REPORT}; require('elastic-apm-node').destroy();`,
    );
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(res.stdout) as { active: boolean; loaded: number; sampleRate: number; env: string | null };
    assert.equal(report.active, true);
    assert.ok(report.loaded > 0);
    assert.equal(report.sampleRate, 0.25);
    assert.equal(report.env, null, 'the agent itself no longer sees the rate');
  });

  it('ELASTIC_APM_ACTIVE=false keeps the agent from loading, even with a server URL', async () => {
    const res = await underPreload({ ELASTIC_APM_SERVER_URL: 'http://127.0.0.1:9', ELASTIC_APM_ACTIVE: 'false' }, REPORT);
    assert.equal(res.code, 0, res.stderr);
    const report = JSON.parse(res.stdout) as { active: boolean; reason: string; loaded: number };
    assert.equal(report.active, false);
    assert.match(report.reason, /ELASTIC_APM_ACTIVE=false/);
    assert.equal(report.loaded, 0, 'no elastic-apm-node module was required');
  });

  it('a bad sample rate stops the process with a clear error', async () => {
    const res = await underPreload(
      { ELASTIC_APM_SERVER_URL: 'http://127.0.0.1:9', ELASTIC_APM_TRANSACTION_SAMPLE_RATE: 'lots' },
      REPORT,
    );
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /ELASTIC_APM_TRANSACTION_SAMPLE_RATE="lots": expected a number from 0.0 to 1.0/);
  });
});
