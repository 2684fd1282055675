// The service under the Elastic APM agent, end to end: a real MariaDB, the service as a child process with the
// preload, and a capture server speaking the intake protocol. One service process for the whole file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MariaDb } from './support/mariadb';
import { ApmIntake, type IntakeSpan, type IntakeTransaction } from './support/apm-intake';
import { push, REPO_ROOT, startService, type ServiceProcess } from './support/apm-service';
import { metricValue } from './support/service';

const PUSH_NAME = 'stats.StatsService/Push';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function traceparent(sampled: boolean): { header: string; traceId: string; parentId: string } {
  const traceId = hex(16);
  const parentId = hex(8);
  return { header: `00-${traceId}-${parentId}-${sampled ? '01' : '00'}`, traceId, parentId };
}

/** A MariaDB, a capture intake and the service under the preload with `env`, for one describe block. */
function serviceUnderApm(env: Record<string, string>): { db: () => MariaDb; intake: () => ApmIntake; svc: () => ServiceProcess } {
  let db: MariaDb;
  let intake: ApmIntake;
  let svc: ServiceProcess;
  before(async () => {
    db = await MariaDb.start();
    intake = await ApmIntake.start();
    svc = await startService({
      MYSQL_URL: db.url,
      ELASTIC_APM_SERVER_URL: intake.url,
      ELASTIC_APM_API_REQUEST_TIME: '1s',
      ELASTIC_APM_METRICS_INTERVAL: '0s',
      ...env,
    });
  });
  after(async () => {
    await svc?.stop();
    await intake?.stop();
    await db?.destroy();
  });
  return { db: () => db, intake: () => intake, svc: () => svc };
}

describe('Elastic APM: transactions, spans, errors and labels reach the intake', () => {
  const env = serviceUnderApm({
    // Only requests whose traceparent says so are sampled: the test decides every sampling outcome.
    ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '0',
    // Record decode and validate spans however fast they are (the default drops spans under 1 ms).
    TRACE_SPAN_MIN_DURATION_MS: '0',
    DB_POOL_ACQUIRE_TIMEOUT_MS: '500',
    // The per-request line of a failed write is a debug line (an outage must not flood the log at info).
    LOG_LEVEL: 'debug',
    DB_CONNECT_TIMEOUT_MS: '500',
  });
  let db: MariaDb;
  let intake: ApmIntake;
  let svc: ServiceProcess;
  before(() => {
    db = env.db();
    intake = env.intake();
    svc = env.svc();
  });

  it('a sampled Push: transaction in the incoming trace, bench labels, OTel spans, flush with mysql span and links', async () => {
    const tp = traceparent(true);
    const res = await push(svc.url, { property: 'news', section: 1, id: 42 }, {
      traceparent: tp.header,
      'x-bench-run': 'run-7',
      'x-bench-stage': 'ramp.2',
    });
    assert.equal(res.status, 200, res.body);

    let tx: IntakeTransaction | undefined;
    await intake.waitFor('the Push transaction', (i) => {
      tx = i.transactions().find((t) => t.trace_id === tp.traceId && t.name === PUSH_NAME);
      return tx !== undefined;
    });
    assert.ok(tx);
    assert.equal(tx.parent_id, tp.parentId, 'continues the incoming traceparent');
    assert.equal(tx.type, 'request');
    assert.equal(tx.result, 'ok');
    assert.equal(tx.outcome, 'success');
    assert.equal(tx.context?.tags?.bench_run, 'run-7');
    assert.equal(tx.context?.tags?.bench_stage, 'ramp.2');

    // The service's own spans, created through @opentelemetry/api, arrive through the agent's bridge.
    const own = (name: string) =>
      intake.spans().find((s) => s.transaction_id === tx!.id && s.name === name);
    await intake.waitFor('decode, validate and commit_wait spans', () =>
      ['decode', 'validate', 'commit_wait'].every((n) => own(n) !== undefined),
    );
    for (const name of ['decode', 'validate', 'commit_wait']) {
      const span = own(name)!;
      assert.equal(span.trace_id, tp.traceId);
      assert.equal(span.otel?.span_kind, 'INTERNAL', `${name} came through the OTel bridge`);
    }
    const wait = own('commit_wait')!;
    const flushTraceId = wait.otel?.attributes?.flush_trace_id;
    assert.equal(typeof flushTraceId, 'string', 'the commit wait names its flush');
    assert.ok(Number(wait.otel?.attributes?.batch_size) >= 1);

    // The flush: its own transaction, linked back to the request's commit wait, with the agent's mysql2 span.
    let flush: IntakeTransaction | undefined;
    await intake.waitFor('the flush transaction', (i) => {
      flush = i.transactions().find((t) => t.trace_id === flushTraceId && t.name === 'pageviews.flush');
      return flush !== undefined;
    });
    assert.ok(flush);
    assert.equal(flush.id, wait.otel?.attributes?.flush_transaction_id);
    assert.equal(flush.type, 'messaging');
    assert.equal(flush.outcome, 'success');
    assert.ok(Number(flush.context?.tags?.batch_size) >= 1);
    assert.ok(
      flush.links?.some((l) => l.trace_id === tp.traceId && l.span_id === wait.id),
      'the flush links to the commit wait',
    );
    let insert: IntakeSpan | undefined;
    await intake.waitFor('the mysql2 INSERT span', (i) => {
      insert = i.spans().find((s) => s.transaction_id === flush!.id && s.subtype === 'mysql');
      return insert !== undefined;
    });
    assert.ok(insert);
    assert.equal(insert.type, 'db');
    assert.match(insert.context?.db?.statement ?? '', /^INSERT INTO incoming/);
  });

  it('span times are consistent: no span of a traced Push ends before it starts', async () => {
    const callers = Array.from({ length: 30 }, () => traceparent(true));
    for (const tp of callers) {
      const res = await push(svc.url, { property: 'news', section: 1, id: 7 }, { traceparent: tp.header });
      assert.equal(res.status, 200, res.body);
    }
    const ids = new Set(callers.map((c) => c.traceId));
    const waits = () => intake.spans().filter((s) => ids.has(s.trace_id) && s.name === 'commit_wait');
    // Commit waits get spans when their flush is traced (within the flush budget): most of these 30.
    await intake.waitFor('commit_wait spans of traced flushes', () => waits().length >= 10);
    for (const s of intake.spans().filter((x) => ids.has(x.trace_id))) {
      assert.ok(Number(s.duration) >= 0, `${s.name} ${s.id}: duration ${String(s.duration)} ms`);
    }
  });

  it('a client mistake: error captured with twirp_code, transaction result from the code, outcome success', async () => {
    const tp = traceparent(true);
    const res = await push(svc.url, { property: 'not-allowed', section: 1, id: 1 }, { traceparent: tp.header });
    assert.equal(res.status, 400, res.body);
    const code = (JSON.parse(res.body) as { code: string }).code;

    await intake.waitFor('the failed Push transaction and its error', (i) =>
      i.transactions().some((t) => t.trace_id === tp.traceId) && i.errors().some((e) => e.trace_id === tp.traceId),
    );
    const tx = intake.transactions().find((t) => t.trace_id === tp.traceId)!;
    assert.equal(tx.result, code);
    assert.equal(tx.outcome, 'success', '4xx is not a service failure');
    const error = intake.errors().find((e) => e.trace_id === tp.traceId)!;
    assert.equal(error.transaction_id, tx.id);
    assert.equal(error.context?.tags?.twirp_code, code);
    // The frames name the TypeScript source and its line (the service runs compiled with source maps).
    const file = 'service/src/pageviews/validate.ts';
    const source = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n');
    const line = source.findIndex((l) => l.includes("throw twirpError.invalidArgument('property', 'property is not an allowed property')")) + 1;
    assert.ok(line > 0);
    const frame = error.exception?.stacktrace?.find((f) => f.filename === file);
    assert.ok(frame, `a frame in ${file}: ${JSON.stringify(error.exception?.stacktrace?.slice(0, 4))}`);
    assert.deepEqual([frame.lineno, frame.function, frame.context_line?.trim()], [line, 'validatePush', source[line - 1]!.trim()]);
  });

  it('an unsampled traceparent opens no transaction; malformed bench labels are dropped', async () => {
    const unsampled = traceparent(false);
    const sampled = traceparent(true);
    assert.equal((await push(svc.url, { property: 'news', section: 2, id: 2 }, { traceparent: unsampled.header })).status, 200);
    const res = await push(svc.url, { property: 'news', section: 3, id: 3 }, {
      traceparent: sampled.header,
      'x-bench-run': 'bad value <script>',
      'x-bench-stage': 'x'.repeat(65),
    });
    assert.equal(res.status, 200);
    await intake.waitFor('the sampled transaction', (i) => i.transactions().some((t) => t.trace_id === sampled.traceId));
    const tx = intake.transactions().find((t) => t.trace_id === sampled.traceId)!;
    assert.equal(tx.context?.tags?.bench_run, undefined);
    assert.equal(tx.context?.tags?.bench_stage, undefined);
    // Both requests were answered before the sampled one's events arrived; the agent sends in order.
    assert.equal(intake.transactions().filter((t) => t.trace_id === unsampled.traceId).length, 0);
    assert.equal(intake.spans().filter((s) => s.trace_id === unsampled.traceId).length, 0);
  });

  it('an unsampled failing request still reports its error (within the error budget), labelled', async () => {
    const res = await push(svc.url, { property: 'nope', section: 1, id: 1 }, { 'x-bench-run': 'run-budget' });
    assert.equal(res.status, 400);
    await intake.waitFor('the unsampled error', (i) =>
      i.errors().some((e) => e.context?.tags?.bench_run === 'run-budget'),
    );
    const error = intake.errors().find((e) => e.context?.tags?.bench_run === 'run-budget')!;
    assert.equal(error.context?.tags?.twirp_code, 'invalid_argument');
    assert.equal(error.transaction_id, undefined);
  });

  it('a server failure (database gone): outcome failure, error with twirp_code, log line carries the trace ids', async () => {
    // 'term', not 'kill': MariaDb.stop() cannot be called again after a SIGKILL (see the harness).
    await db.stop('term');
    const tp = traceparent(true);
    const res = await push(svc.url, { property: 'news', section: 9, id: 9 }, { traceparent: tp.header });
    assert.ok(res.status >= 500, `expected a 5xx, got ${res.status} ${res.body}`);
    const code = (JSON.parse(res.body) as { code: string }).code;
    await intake.waitFor('the failed transaction and its error', (i) =>
      i.transactions().some((t) => t.trace_id === tp.traceId && t.name === PUSH_NAME) &&
      i.errors().some((e) => e.trace_id === tp.traceId),
    );
    const tx = intake.transactions().find((t) => t.trace_id === tp.traceId && t.name === PUSH_NAME)!;
    assert.equal(tx.result, code);
    assert.equal(tx.outcome, 'failure');
    const error = intake.errors().find((e) => e.trace_id === tp.traceId)!;
    assert.equal(error.context?.tags?.twirp_code, code);

    const line = svc.logs().find((l) => l['trace.id'] === tp.traceId);
    assert.ok(line, 'a log line of the failed request carries trace.id');
    assert.equal(line['transaction.id'], tx.id);

    // And back: once the database returns, Push works again.
    await db.restart();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await push(svc.url, { property: 'news', section: 9, id: 10 })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200);
  });

  it('sends the service metadata from package.json', async () => {
    // The agent sends metadata first in every intake request; earlier tests made it send.
    await intake.waitFor('metadata', (i) => i.metadata().length > 0);
    const service = intake.metadata()[0]!.service as { name: string; version: string; environment: string };
    assert.equal(service.name, 'pageview-stress-lab');
    assert.match(service.version, /^\d+\.\d+\.\d+/);
    assert.equal(typeof service.environment, 'string');
  });
});

describe('Elastic APM: the edge trace budget', () => {
  const env = serviceUnderApm({
    // Every request without a traceparent would be traced, but at most 3 a second are.
    ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1',
    TRACE_REQUESTS_PER_SECOND: '3',
    LOG_LEVEL: 'warn',
  });

  it('caps what the edge samples; sampled traceparents are traced whatever the budget; every Push is stored', async () => {
    const started = performance.now();
    const edge = await Promise.all(Array.from({ length: 60 }, (_, i) => push(env.svc().url, { property: 'news', section: 3, id: i + 1 })));
    const elapsedS = (performance.now() - started) / 1000;
    for (const r of edge) assert.equal(r.status, 200, r.body);
    const callers = Array.from({ length: 8 }, () => traceparent(true));
    for (const [i, tp] of callers.entries()) {
      const r = await push(env.svc().url, { property: 'news', section: 4, id: i + 1 }, { traceparent: tp.header });
      assert.equal(r.status, 200, r.body);
    }
    const callerIds = new Set(callers.map((c) => c.traceId));
    await env.intake().waitFor('every caller-sampled transaction', (i) => i.transactions().filter((t) => callerIds.has(t.trace_id)).length === callers.length);
    // Let the agent send whatever else it has, then count the edge-sampled ones.
    await new Promise((r) => setTimeout(r, 1500));
    const edgeTx = env.intake().transactions().filter((t) => t.name === PUSH_NAME && !callerIds.has(t.trace_id));
    // A full bucket (3) plus 3 a second while the burst lasted, and one for rounding.
    const most = 3 + Math.ceil(3 * elapsedS) + 1;
    assert.ok(edgeTx.length >= 1, 'the budget still lets some requests be traced');
    assert.ok(edgeTx.length <= most, `${edgeTx.length} edge-sampled transactions for 60 requests in ${elapsedS.toFixed(2)} s; budget allows ${most}`);
    assert.deepEqual(await env.db().sql('SELECT COUNT(*) FROM test.incoming WHERE property_section IN (3, 4)'), [['68']]);
  });
});
